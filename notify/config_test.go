package notify

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/lifecycle"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	short := "whsec_" + base64.StdEncoding.EncodeToString([]byte("too-short-secret"))
	ok := WebhookConfig{Name: "ci", URL: "https://ci.example.com/hooks/scan", Secret: testSecret}
	with := func(f func(*WebhookConfig)) []WebhookConfig {
		w := ok
		f(&w)
		return []WebhookConfig{w}
	}
	tests := []struct {
		name     string
		webhooks []WebhookConfig
		want     []string // substrings of the error; none: valid
	}{
		{"valid", []WebhookConfig{ok}, nil},
		{"none", nil, nil},
		{"secret file with two secrets", with(func(w *WebhookConfig) {
			w.Secret, w.SecretFile = "", file("two", "# rotation\n"+testSecret+"\n\n"+specSecret+"\n")
		}), nil},
		{"http on loopback allowed", with(func(w *WebhookConfig) { w.URL, w.AllowHTTP = "http://127.0.0.1:8080/x", true }), nil},
		{"http refused", with(func(w *WebhookConfig) { w.URL = "http://ci.example.com/x" }),
			[]string{"notify.webhooks[0].url: http:// sends the events and their signatures in the clear"}},
		{"ftp", with(func(w *WebhookConfig) { w.URL = "ftp://x/y" }), []string{`notify.webhooks[0].url: scheme "ftp"`}},
		{"no url", with(func(w *WebhookConfig) { w.URL = "" }), []string{"notify.webhooks[0].url: is required"}},
		{"bad name", with(func(w *WebhookConfig) { w.Name = "a.b" }), []string{`notify.webhooks[0].name: "a.b"`}},
		{"duplicate name", []WebhookConfig{ok, ok}, []string{`notify.webhooks[1].name: "ci" is the name of notify.webhooks[0] too`}},
		{"no secret", with(func(w *WebhookConfig) { w.Secret = "" }), []string{"notify.webhooks[0].secret: required (or secret_file)"}},
		{"both secrets", with(func(w *WebhookConfig) { w.SecretFile = "/x" }), []string{"set secret or secret_file, not both"}},
		{"no prefix", with(func(w *WebhookConfig) { w.Secret = strings.TrimPrefix(testSecret, "whsec_") }), []string{"secret: must start with whsec_"}},
		{"short secret", with(func(w *WebhookConfig) { w.Secret = short }), []string{"secret: 16 bytes once decoded; must be 24 to 64"}},
		{"not base64", with(func(w *WebhookConfig) { w.Secret = "whsec_!!!" }), []string{"not standard base64"}},
		{"bad line in file", with(func(w *WebhookConfig) { w.Secret, w.SecretFile = "", file("bad", testSecret+"\n"+short+"\n") }),
			[]string{"secret_file " + filepath.Join(dir, "bad") + " line 2: 16 bytes"}},
		{"empty file", with(func(w *WebhookConfig) { w.Secret, w.SecretFile = "", file("empty", "# none yet\n") }), []string{"holds no secret"}},
		{"missing file", with(func(w *WebhookConfig) { w.Secret, w.SecretFile = "", filepath.Join(dir, "nope") }), []string{"secret_file: open"}},
		{"timeouts and ages", with(func(w *WebhookConfig) {
			w.Timeout, w.MaxAge, w.MaxAttempts, w.MaxInFlight = time.Hour, time.Second, -1, 99
		}), []string{"timeout: 1h0m0s: must be 1s to 1m0s", "max_age: 1s: must be", "max_attempts: -1", "max_in_flight: 99: must be 1 to 16"}},
		{"headers", with(func(w *WebhookConfig) {
			w.Headers = []Header{{Name: "webhook-signature", Value: "x"}, {Name: "Bad Name", Value: "x"}, {Name: "X-Ok", Value: "a\r\nInjected: 1"}}
		}), []string{"webhook-signature is set by the bridge", `"Bad Name" is no header name`, "the value of X-Ok must be one line"}},
		{"match", with(func(w *WebhookConfig) {
			w.Match = Match{Receivers: []string{""}, Namespaces: []string{"team-["}, Results: []string{"done"}}
		}), []string{"match.receivers[0]: is empty", `match.namespaces[0]: "team-[" is no glob`, `match.results[0]: "done" is not one of`}},
		{"too many", make([]WebhookConfig, MaxWebhooks+1), []string{"notify.webhooks: has 17 items, above the maximum 16"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Config{Webhooks: tt.webhooks}.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			for _, secret := range []string{strings.TrimPrefix(testSecret, "whsec_"), strings.TrimPrefix(short, "whsec_"), "ci.example.com"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error quotes a secret or the URL: %q", err)
				}
			}
		})
	}
}

func TestMatch(t *testing.T) {
	d := lifecycle.ResultData{Receiver: "harbor", Namespace: "team-a", Status: lifecycle.ScanFailed}
	tests := []struct {
		m    Match
		want bool
	}{
		{Match{}, true},
		{Match{Receivers: []string{"swr", "harbor"}}, true},
		{Match{Receivers: []string{"swr"}}, false},
		{Match{Namespaces: []string{"ops", "team-*"}}, true},
		{Match{Namespaces: []string{"team-?b"}}, false},
		{Match{Results: []string{"scan_failed", "given_up"}}, true},
		{Match{Results: []string{"scanned"}}, false},
		{Match{Receivers: []string{"harbor"}, Namespaces: []string{"team-a"}, Results: []string{"scanned"}}, false},
	}
	for _, tt := range tests {
		if got := tt.m.matches(d); got != tt.want {
			t.Errorf("%+v matches %+v = %v, want %v", tt.m, d, got, tt.want)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Min: 5 * time.Second, Max: 10 * time.Minute}
	top := func(n int64) int64 { return n - 1 } // the longest draw
	low := func(int64) int64 { return 0 }       // the shortest
	tests := []struct {
		attempt   uint64
		low, high time.Duration
	}{
		{1, 2500 * time.Millisecond, 5 * time.Second},
		{2, 5 * time.Second, 10 * time.Second},
		{5, 40 * time.Second, 80 * time.Second},
		{8, 5 * time.Minute, 10 * time.Minute},
		{9, 5 * time.Minute, 10 * time.Minute},
		{1 << 40, 5 * time.Minute, 10 * time.Minute}, // no overflow
	}
	for _, tt := range tests {
		if got := b.Delay(tt.attempt, low); got != tt.low {
			t.Errorf("attempt %d: shortest %s, want %s", tt.attempt, got, tt.low)
		}
		if got := b.Delay(tt.attempt, top); got != tt.high {
			t.Errorf("attempt %d: longest %s, want %s", tt.attempt, got, tt.high)
		}
	}
}

func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	b := Backoff{Min: 5 * time.Second, Max: 10 * time.Minute}
	top := func(n int64) int64 { return n - 1 }
	tests := []struct {
		name     string
		a        attempt
		age      time.Duration
		attempts uint64
		maxTries int
		want     action
		delay    time.Duration
	}{
		{"200", attempt{status: 200}, 0, 1, 0, ack, 0},
		{"204 late", attempt{status: 204}, 48 * time.Hour, 99, 0, ack, 0},
		{"500", attempt{status: 500}, time.Minute, 1, 0, retry, 5 * time.Second},
		{"network", attempt{err: errTest}, time.Minute, 2, 0, retry, 10 * time.Second},
		{"429 Retry-After", attempt{status: 429, retryAfter: 2 * time.Minute}, time.Minute, 1, 0, retry, 2 * time.Minute},
		{"Retry-After capped", attempt{status: 503, retryAfter: time.Hour}, time.Minute, 1, 0, retry, 10 * time.Minute},
		{"408", attempt{status: 408}, time.Minute, 1, 0, retry, 5 * time.Second},
		{"last retry at max_age", attempt{status: 500}, 24*time.Hour - time.Second, 20, 0, retry, time.Second},
		{"past max_age", attempt{status: 500}, 24 * time.Hour, 20, 0, giveUp, 0},
		{"max_attempts", attempt{status: 502}, time.Minute, 3, 3, giveUp, 0},
		{"400", attempt{status: 400}, 0, 1, 0, giveUp, 0},
		{"404", attempt{status: 404}, 0, 1, 0, giveUp, 0},
		{"301", attempt{status: 301}, 0, 1, 0, giveUp, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act, delay, reason := decide(tt.a, now, now.Add(-tt.age), tt.attempts, 24*time.Hour, tt.maxTries, b, top)
			if act != tt.want || delay != tt.delay {
				t.Errorf("got %v after %s (%s), want %v after %s", act, delay, reason, tt.want, tt.delay)
			}
		})
	}
}

var errTest = os.ErrDeadlineExceeded

// TestRetryScheduleEndsAtMaxAge follows one event that never gets
// through, in a synctest bubble (time moves only when every goroutine
// waits): attempts come at the backoff's pace, the waits never exceed
// Max, and the last attempt falls at max_age, where it is given up.
func TestRetryScheduleEndsAtMaxAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := DefaultBackoff
		maxAge := 2 * time.Hour
		published := time.Now()
		var attempts uint64
		for {
			attempts++
			act, delay, _ := decide(attempt{status: 503}, time.Now(), published, attempts, maxAge, 0, b, jitter)
			if act == giveUp {
				break
			}
			if act != retry || delay <= 0 || delay > b.Max {
				t.Fatalf("attempt %d: %v after %s", attempts, act, delay)
			}
			time.Sleep(delay)
		}
		if age := time.Since(published); age != maxAge {
			t.Errorf("given up at age %s, want exactly max_age %s", age, maxAge)
		}
		// 5s..10m doubling with jitter, then every 5-10 minutes: 2h take
		// some 12 to 30 attempts.
		if attempts < 12 || attempts > 40 {
			t.Errorf("%d attempts in %s", attempts, maxAge)
		}
	})
}

// FuzzDecodeSecret: any input is accepted as 24 to 64 bytes or refused
// with an error that does not quote it.
func FuzzDecodeSecret(f *testing.F) {
	for _, s := range []string{specSecret, testSecret, "whsec_", "whsec_!!", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := decodeSecret(s)
		if err != nil {
			if rest := strings.TrimPrefix(s, SecretPrefix); len(rest) >= 8 && strings.Contains(err.Error(), rest) {
				t.Fatalf("error %q quotes the secret", err)
			}
			return
		}
		if len(k) < MinSecretBytes || len(k) > MaxSecretBytes {
			t.Fatalf("accepted %d bytes", len(k))
		}
	})
}
