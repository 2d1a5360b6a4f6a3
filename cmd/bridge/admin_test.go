package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/admin"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

func TestAdminTokens(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const (
		t1  = "admin-token-one-0123456789abcdef" // 32 bytes
		t2  = "admin-token-two-0123456789abcdef" // 32 bytes
		bad = "admin-token-short-0123456789abc"  // 31 bytes
	)
	tests := []struct {
		name    string
		cfg     AdminConfig
		want    []string
		wantErr string // "" when the config must be accepted
	}{
		{"no token leaves the admin API off", AdminConfig{}, nil, ""},
		{"a blank token leaves it off", AdminConfig{Token: "  "}, nil, ""},
		{"the token, trimmed", AdminConfig{Token: " " + t1 + "\n"}, []string{t1}, ""},
		{"every line of the file, comments and blanks skipped", AdminConfig{TokenFile: file("two", "# rotation\n"+t2+"\n\n  "+t1+"  \n")}, []string{t2, t1}, ""},
		{"the token and the file together", AdminConfig{Token: t1, TokenFile: file("one", t2+"\n")}, []string{t1, t2}, ""},
		{"a file without a token is an error, not a disabled API", AdminConfig{TokenFile: file("empty", "# none yet\n")}, nil, "holds no token"},
		{"a missing file is an error", AdminConfig{TokenFile: filepath.Join(dir, "missing")}, nil, "admin.token_file"},
		{"a 31-byte token stops the start", AdminConfig{Token: bad}, nil, "admin.token: 31 bytes; at least 32 are required"},
		{"a short line of the file is named by its number and length", AdminConfig{TokenFile: file("short", "# rotation\n"+t1+"\n"+bad+"\n")},
			nil, "line 3: 31 bytes; at least 32 are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.tokens()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) || !slices.Equal(got, tt.want) {
				t.Fatalf("tokens() = %q, %v; want %q (error %q)", got, err, tt.want, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), bad) {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
}

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

	e := newE2E(t, func(c *Config) { c.Admin.Token = token })
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
