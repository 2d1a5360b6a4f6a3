package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// TestAnHSSAuthRefusalTurnsReadyzRed runs the bridge against the fake HSS
// with a wrong secret key: the webhook is accepted (202), HSS answers the
// first call 401, and /readyz says not ready, naming HSS, instead of
// staying green while jobs pile up.
func TestAnHSSAuthRefusalTurnsReadyzRed(t *testing.T) {
	e := newE2E(t, func(c *config.Config) { c.HSS.SecretKey = "not-the-secret" })
	readyz := func() (int, map[string]any) {
		resp, err := http.Get("http://" + e.app.ln.Addr().String() + "/readyz")
		if err != nil {
			t.Fatalf("readyz: %v", err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		return resp.StatusCode, body
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("readyz before any HSS call: %d %v", code, body)
	}
	if code, _ := e.post(harborPush("team", "app", "1.0"), testToken); code != http.StatusAccepted {
		t.Fatalf("webhook: %d, want 202", code)
	}
	var body map[string]any
	natstest.Eventually(t, 20*time.Second, "readyz not ready after HSS's 401", func() bool {
		var code int
		code, body = readyz()
		return code == http.StatusServiceUnavailable
	})
	if msg, _ := body["error"].(string); !strings.Contains(msg, "401") || !strings.Contains(msg, "hss") {
		t.Errorf("readyz error %q, want HSS's 401 named", msg)
	}
}
