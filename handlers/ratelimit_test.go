package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestRateLimitPerReceiver runs a receiver's token bucket on synctest's
// clock: the burst passes, the next request is 429 with Retry-After, the
// bucket refills at the configured rate, and refused credentials take
// nothing from it.
func TestRateLimitPerReceiver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const token = "harbor-token-0123456789"
		pub := &memPublisher{}
		e := newTestServer(t, pub,
			ReceiverConfig{Name: "harbor", Format: "generic", Target: target, RateLimit: RateLimitConfig{PerSecond: 2, Burst: 3},
				Auth: AuthConfig{Method: AuthToken, Secrets: []string{token}}},
			ReceiverConfig{Name: "other", Format: "generic", Target: target, RateLimit: RateLimitConfig{PerSecond: 2, Burst: 3},
				Auth: AuthConfig{Method: AuthNone}})
		n := 0
		post := func(path, auth string) (int, string) {
			t.Helper()
			n++
			body := strings.Replace(push, "1.0", "r"+strings.Repeat("1", n), 1) // a new job each time
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			req.Header.Set("Authorization", auth)
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			return rec.Code, rec.Header().Get("Retry-After")
		}
		steps := []struct {
			name           string
			sleep          time.Duration
			path, auth     string
			wantCode       int
			wantRetryAfter string
		}{
			{"the first of the burst passes", 0, "/webhooks/harbor", token, 202, ""},
			{"the second of the burst passes", 0, "/webhooks/harbor", token, 202, ""},
			{"the third of the burst passes", 0, "/webhooks/harbor", token, 202, ""},
			{"the fourth at once is over the limit", 0, "/webhooks/harbor", token, 429, "1"},
			{"a wrong token is refused without touching the bucket", 0, "/webhooks/harbor", "guess", 401, ""},
			{"another receiver has its own bucket", 0, "/webhooks/other", "", 202, ""},
			{"half a second later one request has been earned", 500 * time.Millisecond, "/webhooks/harbor", token, 202, ""},
			{"and only one", 0, "/webhooks/harbor", token, 429, "1"},
			{"a quarter second later still none", 250 * time.Millisecond, "/webhooks/harbor", token, 429, "1"},
			{"another quarter second earns the next", 250 * time.Millisecond, "/webhooks/harbor", token, 202, ""},
			{"a long pause refills the burst, not more", 10 * time.Second, "/webhooks/harbor", token, 202, ""},
			{"burst 2 of 3", 0, "/webhooks/harbor", token, 202, ""},
			{"burst 3 of 3", 0, "/webhooks/harbor", token, 202, ""},
			{"over again", 0, "/webhooks/harbor", token, 429, "1"},
		}
		for _, st := range steps {
			time.Sleep(st.sleep)
			code, retryAfter := post(st.path, st.auth)
			if code != st.wantCode || retryAfter != st.wantRetryAfter {
				t.Fatalf("%s: %d Retry-After %q, want %d %q", st.name, code, retryAfter, st.wantCode, st.wantRetryAfter)
			}
		}
	})
}

// TestRateLimitIsCheckedBeforeTheBodyIsRead: a sender over its limit is
// refused before its body is read, when its method allows.
func TestRateLimitIsCheckedBeforeTheBodyIsRead(t *testing.T) {
	const token = "harbor-token-0123456789"
	e := newTestServer(t, &memPublisher{}, ReceiverConfig{Name: "harbor", Format: "generic", Target: target,
		RateLimit: RateLimitConfig{PerSecond: 0.001, Burst: 1}, Auth: AuthConfig{Method: AuthToken, Secrets: []string{token}}})
	if code, _ := send(t, e, "/webhooks/harbor", push, map[string]string{"Authorization": token}); code != 202 {
		t.Fatalf("first request: %d", code)
	}
	body := newBlockingBody(t)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/harbor", body)
	req.Header.Set("Authorization", token)
	rec := serveWithin(t, e, req)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1000" || body.reads.Load() != 0 {
		t.Fatalf("got %d Retry-After %q after %d reads, want 429 Retry-After 1000 unread", rec.Code, rec.Header().Get("Retry-After"), body.reads.Load())
	}
}

func TestReceiverLimitSettingsAreChecked(t *testing.T) {
	tests := []struct {
		name string
		rc   ReceiverConfig
		want string
	}{
		{"a negative rate", ReceiverConfig{RateLimit: RateLimitConfig{PerSecond: -1}}, "rate_limit"},
		{"a negative burst", ReceiverConfig{RateLimit: RateLimitConfig{Burst: -1}}, "rate_limit"},
		{"a negative jobs cap", ReceiverConfig{MaxJobs: -1}, "max_jobs -1"},
		{"a body budget under 1 KiB", ReceiverConfig{MaxBodyBytes: 100}, "max_body_bytes 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := tt.rc
			rc.Name, rc.Format, rc.Target, rc.Auth = "r", "generic", target, AuthConfig{Method: AuthNone}
			cfg := DefaultConfig()
			cfg.Receivers = []ReceiverConfig{rc}
			if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
