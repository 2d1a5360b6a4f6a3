package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/admin"
	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// The running bridge serves the admin API over its own dead letters when a
// token is set, and has no admin API otherwise.
func TestE2EAdminAPI(t *testing.T) {
	const token = "e2e-admin-token-0123456789abcdef"
	get := func(e *e2eEnv, auth string) (int, admin.ListAnswer) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+e.app.adminLn.Addr().String()+"/admin/dlq", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("get /admin/dlq: %v", err)
		}
		defer resp.Body.Close()
		var ans admin.ListAnswer
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
				t.Fatalf("decode: %v", err)
			}
		}
		return resp.StatusCode, ans
	}

	off := newE2E(t)
	if code, _ := get(off, "Bearer "+token); code != http.StatusNotFound {
		t.Fatalf("without admin.token: status %d, want 404", code)
	}

	e := newE2E(t, func(c *config.Config) { c.Admin.Token = token })
	e.hss.RefuseImage("team", "bad", "1.0")
	if code, _ := e.post(harborPush("team", "bad", "1.0"), testToken); code != http.StatusAccepted {
		t.Fatalf("push: %d", code)
	}
	natstest.Eventually(t, 30*time.Second, "the dead letter", func() bool {
		code, ans := get(e, "Bearer "+token)
		return code == http.StatusOK && ans.Count == 1
	})
	_, ans := get(e, "Bearer "+token)
	if r := ans.DeadLetters[0]; r.Seq == 0 || r.Job == nil || jobRef(*r.Job) != "team/bad:1.0" || r.Status != http.StatusBadRequest || r.ErrorCode == "" {
		t.Fatalf("admin list = %+v, want team/bad:1.0 refused with 400 and an error code", ans)
	}
	if code, _ := get(e, "Bearer wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong admin token: status %d, want 401", code)
	}
}
