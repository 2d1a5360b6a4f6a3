package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scan-bridge/scan-bridge/handlers/formats"
)

func TestRequestIDIsKeptOnlyWhenSafe(t *testing.T) {
	e := newTestServer(t, &memPublisher{}, ReceiverConfig{Name: "r", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}})
	tests := []struct {
		name     string
		sent     string // "" sends no header
		wantKept bool
	}{
		{"no id: one is generated", "", false},
		{"a UUID is kept", "0b7e3c1a-5d2f-4e8b-9a6c-1f2e3d4c5b6a", true},
		{"a dotted, colon-separated id is kept", "harbor:job.42_retry-1", true},
		{"64 characters are kept", strings.Repeat("a", 64), true},
		{"65 characters are replaced", strings.Repeat("a", 65), false},
		{"a megabyte is replaced", strings.Repeat("x", 1<<20), false},
		{"spaces are replaced", "id with spaces", false},
		{"markup is replaced", "<script>alert(1)</script>", false},
		{"a forged log line is replaced", "ok\nlevel=ERROR msg=forged", false},
		{"non-ASCII is replaced", "идентификатор", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/webhooks/r", strings.NewReader(push))
			if tt.sent != "" {
				req.Header.Set("X-Request-Id", tt.sent)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-Id")
			if !safeRequestID.MatchString(got) {
				t.Fatalf("answered request id %q is not safe", formats.Clip(got, 80))
			}
			if kept := got == tt.sent; kept != tt.wantKept {
				t.Fatalf("request id %q answered for %q; kept %t, want %t", formats.Clip(got, 80), formats.Clip(tt.sent, 80), kept, tt.wantKept)
			}
			if !strings.Contains(rec.Body.String(), `"request_id":"`+got+`"`) {
				t.Fatalf("the answer does not carry the request id %q: %s", got, formats.Clip(rec.Body.String(), 200))
			}
		})
	}
}

func TestNATSRequestIDIsKeptOnlyWhenSafe(t *testing.T) {
	tests := []struct {
		name       string
		candidates []string
		want       string
	}{
		{"the message id is kept", []string{"msg-1", "req-1"}, "msg-1"},
		{"without a message id the request id is kept", []string{"", "req-1"}, "req-1"},
		{"an unsafe message id gives way to a safe request id", []string{strings.Repeat("m", 65), "req-1"}, "req-1"},
		{"with neither safe, the generated id is used", []string{"a b", "\x00"}, "generated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keptRequestID("generated", tt.candidates...); got != tt.want {
				t.Fatalf("keptRequestID = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzIsSafeRequestID holds the hand-written check equal to the regexp
// that documents it.
func FuzzIsSafeRequestID(f *testing.F) {
	for _, s := range []string{"", "a", "0b7e3c1a-5d2f-4e8b-9a6c-1f2e3d4c5b6a", "harbor:job.42_retry-1", strings.Repeat("a", 64), strings.Repeat("a", 65), "a b", "<x>", "ok\nx", "идентификатор", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := isSafeRequestID(id), safeRequestID.MatchString(id); got != want {
			t.Fatalf("isSafeRequestID(%q) = %t, the regexp says %t", id, got, want)
		}
	})
}

func TestNewRequestIDIsSafeAndNew(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		if !safeRequestID.MatchString(id) || len(id) != 32 {
			t.Fatalf("generated id %q is not 32 safe characters", id)
		}
		if seen[id] {
			t.Fatalf("generated id %q twice", id)
		}
		seen[id] = true
	}
}
