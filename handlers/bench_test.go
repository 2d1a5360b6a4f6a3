package handlers

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// BenchmarkWebhookHarbor is the whole HTTP intake for one Harbor push,
// minus the store: Echo routing, token auth, decode, normalize, validate,
// answer. The store is an in-memory publisher, so this is the bridge's own
// cost per webhook.
func BenchmarkWebhookHarbor(b *testing.B) {
	pub := &memPublisher{}
	cfg := DefaultConfig()
	cfg.Receivers = []ReceiverConfig{{Name: "h", Format: "harbor", Target: target,
		Auth:      AuthConfig{Method: AuthToken, Secrets: []string{"bench-secret-0123456789"}},
		RateLimit: RateLimitConfig{PerSecond: 1e9, Burst: 1e9}}} // measure the intake, not this guard
	s, err := New(cfg, Options{Publisher: pub})
	if err != nil {
		b.Fatal(err)
	}
	e := s.NewEcho()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		body := fmt.Sprintf(`{"type":"PUSH_ARTIFACT","occur_at":1700000000,"operator":"ci","event_data":{"resources":[{"digest":"sha256:%064d","tag":"t%d","resource_url":"harbor.local/team/app:t%d"}],"repository":{"name":"app","namespace":"team","repo_full_name":"team/app","repo_type":"private"}}}`, i, i, i)
		req := httptest.NewRequest(http.MethodPost, "/webhooks/h", strings.NewReader(body))
		req.Header.Set("Authorization", "bench-secret-0123456789")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkReferenceHandler is the yardstick of BenchmarkWebhookHarbor:
// the least an Echo intake does per webhook (read the body, store it,
// answer 202), with the same in-memory store, so the difference is what
// auth, decoding, routing and validation cost.
func BenchmarkReferenceHandler(b *testing.B) {
	pub := &memPublisher{}
	e := echo.New()
	e.POST("/webhooks/:receiver", func(c echo.Context) error {
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return c.NoContent(http.StatusBadRequest)
		}
		if _, err := pub.Publish(c.Request().Context(), scanjob.Job{Receiver: "ref", Namespace: "team", Image: string(body[:8])}); err != nil {
			return c.NoContent(http.StatusServiceUnavailable)
		}
		return c.JSON(http.StatusAccepted, map[string]string{"status": "accepted"})
	})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		body := fmt.Sprintf(`{"type":"PUSH_ARTIFACT","occur_at":1700000000,"operator":"ci","event_data":{"resources":[{"digest":"sha256:%064d","tag":"t%d","resource_url":"harbor.local/team/app:t%d"}],"repository":{"name":"app","namespace":"team","repo_full_name":"team/app","repo_type":"private"}}}`, i, i, i)
		req := httptest.NewRequest(http.MethodPost, "/webhooks/h", strings.NewReader(body))
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
