package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scan-bridge/scan-bridge/natsconn"
)

// noHSSCredentials clears the variables the HSS credentials come from.
func noHSSCredentials(t *testing.T) {
	t.Helper()
	for _, v := range []string{"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "CLOUD_SDK_AK", "CLOUD_SDK_SK", "HUAWEICLOUD_SDK_PROJECT_ID"} {
		t.Setenv(v, "")
	}
}

func TestConfigCheck(t *testing.T) {
	noHSSCredentials(t)
	dir := t.TempDir()
	good := writeFile(t, `
nats: {data_dir: `+filepath.Join(dir, "nats")+`}
hss: {region: cn-north-4, project_id: p1}
receivers:
  - {name: ci, format: generic, auth: {method: token, secrets: [a-secret-of-16-bytes]}}
`)
	t.Run("a good configuration in a dry run", func(t *testing.T) {
		out, err := runCLI(t, "", "config", "check", "-c", good, "--dry-run")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, "configuration OK: 1 receivers, 0 routes") {
			t.Fatalf("out = %q", out)
		}
		if _, err := os.Stat(filepath.Join(dir, "nats")); !os.IsNotExist(err) {
			t.Errorf("check made the data dir (%v)", err)
		}
	})
	t.Run("every problem, the HSS credentials included", func(t *testing.T) {
		bad := writeFile(t, `
hss: {region: cn-north-4, calls_per_minut: 4}
receivers:
  - {name: ci, format: generic, auth: {method: token, secret_files: [`+filepath.Join(dir, "missing")+`]}}
routes:
  - {match: {repository_regexp: '^a/(.+)$'}, image: '$2'}
`)
		_, err := runCLI(t, "", "config", "check", "-c", bad)
		if err == nil {
			t.Fatal("accepted")
		}
		want := []string{
			"invalid configuration, 5 problems:",
			"hss.calls_per_minut: unknown setting; did you mean hss.calls_per_minute?",
			`receivers[0] "ci": auth: secret_files[0]: open ` + filepath.Join(dir, "missing") + ": no such file or directory",
			`routes[0]: image "$2": ${2} is no variable (namespace, image, repository, host, receiver) and no group of match.repository_regexp`,
			`hss.project_id (BRIDGE_HSS__PROJECT_ID): is required, here or in HUAWEICLOUD_SDK_PROJECT_ID (receiver "ci" sets no target.project_id)`,
			"no HSS credentials: ",
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != len(want) {
			t.Fatalf("got\n%v\nwant %d lines", err, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(lines[i], w) {
				t.Errorf("line %d = %q, want it to start %q", i, lines[i], w)
			}
		}
	})
}

func TestConfigPrint(t *testing.T) {
	path := writeFile(t, "hss: {region: cn-north-4, secret_key: hss-sk-0123456789}\n")
	t.Setenv("BRIDGE_LOG__LEVEL", "debug")
	out, err := runCLI(t, "", "config", "print", "-c", path, "--listen", "127.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "hss-sk-0123456789") {
		t.Fatalf("print shows the secret:\n%s", out)
	}
	for _, line := range []string{"  listen: 127.0.0.1:9 # flag", "  level: debug # env BRIDGE_LOG__LEVEL",
		"  region: cn-north-4 # file", "  secret_key: '[redacted]' # file", "dry_run: false # default"} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("print lacks %q:\n%s", line, out)
		}
	}
}

// TestServeChecksReceiversBeforeNATS: a bad receiver stops serve before
// the embedded NATS makes its data dir or takes its lock.
func TestServeChecksReceiversBeforeNATS(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "nats")
	path := writeFile(t, `
nats: {data_dir: `+dataDir+`}
hss: {region: cn-north-4, project_id: p1}
receivers:
  - {name: ci, format: harbr, auth: {method: none}}
`)
	_, err := runCLI(t, "", "serve", "-c", path, "--dry-run")
	if err == nil || !strings.Contains(err.Error(), `receivers[0] "ci": format "harbr"`) {
		t.Fatalf("serve = %v, want the receiver's format named", err)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("serve touched the NATS data dir before refusing the receiver (%v)", err)
	}
}

// TestTwoBridgesOnOneDataDir: the second is refused, naming the first.
func TestTwoBridgesOnOneDataDir(t *testing.T) {
	e := newE2E(t)
	_, err := natsconn.StartEmbedded(natsconn.Config{DataDir: e.cfg.NATS.DataDir}, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "is in use by another bridge (pid ") {
		t.Fatalf("a second server on the data dir: %v", err)
	}
}
