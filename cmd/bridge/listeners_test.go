package main

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/config"
)

// TestE2EListeners checks what each listener of a running bridge serves:
// the webhook listener nothing but webhooks and probes, the admin
// listener /metrics, the admin API (with a token) and pprof only when
// debug.pprof is on.
func TestE2EListeners(t *testing.T) {
	const token = "e2e-admin-token-0123456789abcdef"
	plain := newE2E(t, func(c *config.Config) { c.Admin.Token = token })
	profiled := newE2E(t, func(c *config.Config) { c.Admin.Token = token; c.Debug.PProf = true })
	webhookOf := func(e *e2eEnv) string { return "http://" + e.app.ln.Addr().String() }
	adminOf := func(e *e2eEnv) string { return "http://" + e.app.adminLn.Addr().String() }
	tests := []struct {
		name     string
		base     string
		path     string
		auth     string
		wantCode int
	}{
		{"the webhook listener answers the liveness probe", webhookOf(plain), "/healthz", "", http.StatusOK},
		{"the webhook listener has no /metrics", webhookOf(plain), "/metrics", "", http.StatusNotFound},
		{"the webhook listener has no admin API, even with the token", webhookOf(plain), "/admin/dlq", "Bearer " + token, http.StatusNotFound},
		{"the webhook listener has no pprof, even when it is on", webhookOf(profiled), "/debug/pprof/", "", http.StatusNotFound},
		{"the admin listener serves /metrics without credentials", adminOf(plain), "/metrics", "", http.StatusOK},
		{"the admin listener's admin API wants the token", adminOf(plain), "/admin/dlq", "", http.StatusUnauthorized},
		{"the admin listener's admin API takes the token", adminOf(plain), "/admin/dlq", "Bearer " + token, http.StatusOK},
		{"the admin listener has no pprof unless debug.pprof", adminOf(plain), "/debug/pprof/", "", http.StatusNotFound},
		{"the admin listener serves pprof's index with debug.pprof", adminOf(profiled), "/debug/pprof/", "", http.StatusOK},
		{"the admin listener serves a named profile with debug.pprof", adminOf(profiled), "/debug/pprof/heap?debug=1", "", http.StatusOK},
		{"the admin listener has no webhook route", adminOf(plain), "/healthz", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, tt.base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("get %s: %v", tt.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("GET %s%s = %d, want %d: %.200s", tt.base, tt.path, resp.StatusCode, tt.wantCode, body)
			}
		})
	}

	off := newE2E(t, func(c *config.Config) { c.Admin.Listen = "" })
	if off.app.adminLn != nil || off.app.admin != nil {
		t.Fatal("admin.listen is empty, yet an admin listener is open")
	}
}

// TestE2EConnectionCap holds http.max_connections idle connections open:
// the next request waits until one of them closes, instead of the bridge
// taking on a connection more.
func TestE2EConnectionCap(t *testing.T) {
	e := newE2E(t, func(c *config.Config) { c.HTTP.MaxConnections = 2 })
	addr := e.app.ln.Addr().String()
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		idle = append(idle, c)
	}
	get := func(timeout time.Duration) error {
		client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := get(500 * time.Millisecond); err == nil {
		t.Fatal("a third connection was served while two idle ones were held, with http.max_connections 2")
	}
	idle[0].Close()
	if err := get(10 * time.Second); err != nil {
		t.Fatalf("no answer after an idle connection closed: %v", err)
	}
}
