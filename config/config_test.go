package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/handlers"
)

func TestLoadConfigLayers(t *testing.T) {
	path := writeFile(t, `
http:
  listen: 127.0.0.1:9000
hss:
  calls_per_minute: 3
queue:
  consumer:
    linger: 2s
receivers:
  - name: a
    format: harbor
    auth: {method: none}
`)
	env := []string{
		"BRIDGE_HSS__CALLS_PER_MINUTE=4",
		"BRIDGE_QUEUE__CONSUMER__MAX_ITEMS=50",
		"UNRELATED=1",
	}
	cfg, err := Load(path, func() []string { return env })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Listen != "127.0.0.1:9000" {
		t.Errorf("http.listen from file = %q", cfg.HTTP.Listen)
	}
	if cfg.HSS.CallsPerMinute != 4 {
		t.Errorf("environment must win over the file: calls_per_minute = %v", cfg.HSS.CallsPerMinute)
	}
	if cfg.Queue.Consumer.MaxItems != 50 || cfg.Queue.Consumer.Linger != 2*time.Second {
		t.Errorf("queue.consumer = %+v", cfg.Queue.Consumer)
	}
	if cfg.HSS.Burst != 1 || cfg.HTTP.MaxBodyBytes != 64<<10 {
		t.Errorf("defaults lost: burst %d, max_body_bytes %d", cfg.HSS.Burst, cfg.HTTP.MaxBodyBytes)
	}
	if len(cfg.Receivers) != 1 || cfg.Receivers[0].Format != "harbor" {
		t.Errorf("receivers = %+v", cfg.Receivers)
	}
}

func TestReceiversFromEnvironment(t *testing.T) {
	env := []string{`BRIDGE_RECEIVERS=[{"name":"r1","format":"generic","auth":{"method":"token","secrets":["x"]}}]`}
	cfg, err := Load("", func() []string { return env })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Receivers) != 1 || cfg.Receivers[0].Name != "r1" || cfg.Receivers[0].Auth.Secrets[0] != "x" {
		t.Fatalf("receivers = %+v", cfg.Receivers)
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"a rate above the HSS API total", []string{"BRIDGE_HSS__CALLS_PER_MINUTE=601"}, "hss.calls_per_minute"},
		{"an unknown auth mode", []string{"BRIDGE_HSS__AUTH=magic"}, "hss.auth"},
		{"an unknown HSS API flavour", []string{"BRIDGE_HSS__API=v6"}, "hss.api"},
		{"an unknown log level", []string{"BRIDGE_LOG__LEVEL=loud"}, "log.level"},
		{"a zero burst", []string{"BRIDGE_HSS__BURST=0"}, "hss.burst"},
		{"no connection allowed", []string{"BRIDGE_HTTP__MAX_CONNECTIONS=0"}, "http.max_connections"},
		{"the admin listener on the webhook port", []string{"BRIDGE_ADMIN__LISTEN=:8080"}, "admin.listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load("", func() []string { return tt.env })
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want it to name %s", err, tt.want)
			}
		})
	}
}

func TestLoadConfigRefusesBadInput(t *testing.T) {
	if _, err := Load(writeFile(t, "http: [unclosed"), func() []string { return nil }); err == nil {
		t.Fatal("a broken YAML file was accepted")
	}
	if _, err := Load(writeFile(t, "http:\n  read_timeout: soon\n"), func() []string { return nil }); err == nil {
		t.Fatal("a duration that is not one was accepted")
	}
	if _, err := Load("", func() []string { return []string{"BRIDGE_RECEIVERS=[{"} }); err == nil {
		t.Fatal("broken BRIDGE_RECEIVERS was accepted")
	}
}

// TestReadmeExampleIsValid loads the README's complete configuration
// example, so the documented settings and defaults cannot drift from the
// code.
func TestReadmeExampleIsValid(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "A complete example, with every default spelled out:\n\n```yaml\n")
	if !ok {
		t.Fatal("README has no complete example")
	}
	example, _, _ := strings.Cut(rest, "```")
	dir := t.TempDir()
	example = strings.ReplaceAll(example, "/run/secrets/swr-hook", writeSecret(t, dir, "swr-hook", "swr-hook-secret-0123"))
	cfg, err := Load(writeFile(t, example), func() []string { return []string{"BRIDGE_HSS__REGION=cn-north-4", "BRIDGE_HSS__PROJECT_ID=p1"} })
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	def := Default()
	if cfg.HTTP != def.HTTP || cfg.HSS.CallsPerMinute != def.HSS.CallsPerMinute || cfg.HSS.Burst != def.HSS.Burst ||
		cfg.HSS.CallTimeout != def.HSS.CallTimeout || cfg.Log != def.Log || cfg.Admin.Listen != def.Admin.Listen || cfg.Debug != def.Debug ||
		cfg.Lifecycle != def.Lifecycle {
		t.Errorf("the README's defaults differ from DefaultConfig: %+v vs %+v", cfg.HTTP, def.HTTP)
	}
	recvs, err := cfg.FilledReceivers()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handlers.New(handlers.Config{MaxBodyBytes: cfg.HTTP.MaxBodyBytes, PublishTimeout: cfg.HTTP.PublishTimeout,
		Receivers: recvs, Routes: cfg.Routes}, handlers.Options{}); err != nil {
		t.Fatal(err)
	}
	q := cfg.Queue.WithDefaults()
	if q.Consumer.MaxItems != 100 || q.Consumer.Linger != 5*time.Second || q.Stream.Duplicates != 10*time.Minute {
		t.Errorf("queue defaults in the README differ: %+v", q.Consumer)
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeSecret(t *testing.T, dir, name, value string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAdminListenFromEnvironment checks the admin listener's setting:
// its default is loopback, and an empty BRIDGE_ADMIN__LISTEN turns it off.
func TestAdminListenFromEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"the default is loopback only", nil, "127.0.0.1:9090"},
		{"the environment moves it", []string{"BRIDGE_ADMIN__LISTEN=:9090"}, ":9090"},
		{"an empty value turns it off", []string{"BRIDGE_ADMIN__LISTEN="}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load("", func() []string { return tt.env })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Admin.Listen != tt.want {
				t.Fatalf("admin.listen = %q, want %q", cfg.Admin.Listen, tt.want)
			}
		})
	}
}
