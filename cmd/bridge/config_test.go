package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scan-bridge/scan-bridge/config"
)

func TestServeWithoutCredentialsNamesTheSettings(t *testing.T) {
	t.Setenv("HUAWEICLOUD_SDK_AK", "")
	t.Setenv("HUAWEICLOUD_SDK_SK", "")
	t.Setenv("CLOUD_SDK_AK", "")
	t.Setenv("CLOUD_SDK_SK", "")
	cfg := config.Default()
	_, err := newHSS(cfg, nil, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "HUAWEICLOUD_SDK_AK") || !strings.Contains(err.Error(), "--dry-run") {
		t.Fatalf("err = %v, want the missing settings named", err)
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
