package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// The embedded NATS is the job stream's door: whoever can publish there
// decides what the consumer signs and sends to HSS. These tests hold the
// door shut by default, and locked when it is opened (nats.listen).

func TestNATSSettingsLoad(t *testing.T) {
	path := writeFile(t, "nats:\n  url: nats://nats:4222\n  user: bridge\n  password_file: /run/secrets/nats\n")
	cfg, err := config.Load(path, func() []string { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.URL != "nats://nats:4222" || cfg.NATS.User != "bridge" || cfg.NATS.PasswordFile != "/run/secrets/nats" {
		t.Fatalf("nats from the file = %+v", cfg.NATS.Config)
	}
	env := []string{"BRIDGE_NATS__USER=scan", "BRIDGE_NATS__PASSWORD_FILE=/p", "BRIDGE_NATS__LISTEN=127.0.0.1:4333",
		"BRIDGE_NATS__LISTEN_PASSWORD_FILE=/lp", "BRIDGE_NATS__INTAKE__ENABLED=true"}
	cfg, err = config.Load("", func() []string { return env })
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.NATS
	if n.User != "scan" || n.PasswordFile != "/p" || n.Listen != "127.0.0.1:4333" || n.ListenPasswordFile != "/lp" || !n.Intake.Enabled {
		t.Fatalf("nats from the environment = %+v", n)
	}
	if config.Default().NATS.Listen != "" {
		t.Fatalf("nats.listen defaults to %q, want empty (in-process only)", config.Default().NATS.Listen)
	}
	cfg.NATS.PasswordFile = ""
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "nats.password_file") {
		t.Fatalf("Validate() = %v, want nats.user without nats.password_file refused", err)
	}
}

func TestTheDefaultBridgeHasNoNATSPort(t *testing.T) {
	e := newE2E(t, func(c *config.Config) { c.NATS.Listen = config.Default().NATS.Listen })
	if addr := e.app.ns.Addr(); addr != nil {
		t.Fatalf("the embedded NATS listens on %s with the default config", addr)
	}
	if _, err := os.Stat(e.cfg.NATS.ListenPasswordPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a password file was made for a server without a port (%v)", err)
	}
}

// freeLoopbackAddr is a loopback address nobody listens on now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// listeningBridge runs a bridge from a config file whose embedded NATS
// listens on a loopback port, as an operator would set it up to use
// bridge dlq beside it, and returns the running bridge and the file.
func listeningBridge(t *testing.T) (*e2eEnv, string) {
	t.Helper()
	hss := hsstest.NewServer(hsstest.Options{AccessKeys: map[string]hsstest.Key{testAK: {SecretKey: testSK}}})
	t.Cleanup(hss.Close)
	path := writeFile(t, fmt.Sprintf(`http:
  listen: 127.0.0.1:0
  shutdown_grace: 5s
admin:
  listen: 127.0.0.1:0
nats:
  data_dir: %s
  listen: %s
hss:
  region: cn-north-4
  project_id: 0123456789abcdef0123456789abcdef
  endpoint: %s
  access_key: %s
  secret_key: %s
  calls_per_minute: 600
  burst: 50
  presence_check: false
queue:
  consumer:
    linger: 300ms
    heartbeat: 1s
receivers:
  - name: harbor
    format: harbor
    auth: {method: token, secrets: [%s]}
`, filepath.Join(t.TempDir(), "nats"), freeLoopbackAddr(t), hss.URL, testAK, testSK, testToken))
	cfg, err := config.Load(path, func() []string { return nil })
	if err != nil {
		t.Fatal(err)
	}
	e := &e2eEnv{t: t, hss: hss, cfg: cfg}
	e.start()
	t.Cleanup(func() {
		if e.app != nil {
			e.stop()
		}
	})
	return e, path
}

func TestTheBridgesCommandsReachItsLockedNATS(t *testing.T) {
	e, config := listeningBridge(t)
	url := "nats://" + e.cfg.NATS.Listen

	t.Run("a client without the password is refused", func(t *testing.T) {
		for _, opts := range [][]nats.Option{nil, {nats.UserInfo("bridge", "guess")}} {
			nc, err := nats.Connect(url, opts...)
			if err == nil {
				nc.Close()
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("connect %s = %v, want %v", url, err, nats.ErrAuthorization)
			}
		}
	})
	t.Run("bridge dlq list with the same config gets in", func(t *testing.T) {
		out, errOut, err := runDLQCLI(t, "dlq", "list", "-c", config)
		if err != nil || !strings.Contains(out, "no dead letters match") {
			t.Fatalf("dlq list = %q, %q, %v", out, errOut, err)
		}
	})
	t.Run("bridge scan takes its permit over the same NATS", func(t *testing.T) {
		out, logs, err := runScanCLI(t.Context(), "--dry-run", "-c", config, "team/app:1.0")
		if err != nil || !strings.Contains(out, "HSS accepted") {
			t.Fatalf("scan = %q, %v", out, err)
		}
		if strings.Contains(logs, "process-local") {
			t.Fatalf("the scan fell back to a local limit: %s", logs)
		}
	})
	t.Run("a command with another password is refused", func(t *testing.T) {
		wrong := writeSecret(t, t.TempDir(), "pw", "not-the-password")
		t.Setenv("BRIDGE_NATS__LISTEN_PASSWORD_FILE", wrong)
		_, _, err := runDLQCLI(t, "dlq", "list", "-c", config)
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("dlq list = %v, want %v", err, nats.ErrAuthorization)
		}
	})
	t.Run("the password file is private and survives a restart", func(t *testing.T) {
		path := e.cfg.NATS.ListenPasswordPath()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %s, want -rw-------", path, fi.Mode().Perm())
		}
		before, _ := os.ReadFile(path)
		e.stop()
		e.start()
		after, _ := os.ReadFile(path)
		if string(before) != string(after) {
			t.Fatal("the password changed over a restart")
		}
		if out, _, err := runDLQCLI(t, "dlq", "list", "-c", config); err != nil || !strings.Contains(out, "no dead letters match") {
			t.Fatalf("dlq list after restart = %q, %v", out, err)
		}
	})
}
