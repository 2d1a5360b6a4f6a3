package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// notifySecret is a valid Standard Webhooks secret (24 bytes).
const notifySecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestNotifySettings(t *testing.T) {
	file := okHSS + okReceivers + `notify:
  webhooks:
    - name: ci
      url: https://ci.example.com/hooks/T0/SECRETPATH
      secret: ` + notifySecret + `
      match: {receivers: [ci], namespaces: ["team-*"], results: [scanned, scan_failed]}
      timeout: 5s
      max_age: 2h
      headers: [{name: X-Team, value: platform}]
`
	cfg, err := LoadChecked(writeFile(t, file), func() []string { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Notify.Webhooks[0]
	if w.Name != "ci" || w.Timeout != 5*time.Second || w.MaxAge != 2*time.Hour || w.Headers[0].Value != "platform" ||
		len(w.Match.Namespaces) != 1 || len(w.Match.Results) != 2 {
		t.Errorf("read %+v", w)
	}
	// The variable holds the list as JSON.
	env := []string{`BRIDGE_NOTIFY__WEBHOOKS=[{"name":"chat","url":"https://chat.example.com/x","secret":"` + notifySecret + `"}]`}
	cfg, err = LoadChecked(writeFile(t, okHSS+okReceivers), func() []string { return env }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Notify.Webhooks) != 1 || cfg.Notify.Webhooks[0].Name != "chat" {
		t.Errorf("from the environment: %+v", cfg.Notify)
	}
	// Printed without the URL or the secret.
	var out bytes.Buffer
	if err := Print(&out, writeFile(t, file), func() []string { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"SECRETPATH", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		if strings.Contains(out.String(), s) {
			t.Errorf("config print shows %s:\n%s", s, out.String())
		}
	}
}

func TestNotifyProblems(t *testing.T) {
	file := okHSS + okReceivers + `notify:
  webhooks:
    - name: ci
      url: http://ci.example.com/hooks
      secret: whsec_c2hvcnQ=
      match: {receivers: [nosuch], results: [done]}
      tiemout: 5s
`
	_, err := LoadChecked(writeFile(t, file), func() []string { return nil }, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"notify.webhooks[0].tiemout: unknown setting; did you mean notify.webhooks[0].timeout?",
		"notify.webhooks[0].url: http:// sends the events and their signatures in the clear",
		"notify.webhooks[0].secret: 5 bytes once decoded; must be 24 to 64",
		`notify.webhooks[0].match.results[0]: "done" is not one of scanned, scan_failed, given_up`,
		`notify.webhooks[0].match.receivers[0]: "nosuch" is no receiver's name`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "c2hvcnQ") {
		t.Errorf("the error quotes the secret:\n%v", err)
	}
}
