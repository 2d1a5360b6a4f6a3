package handlers

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkWebhookHarbor is the whole HTTP intake for one Harbor push,
// minus the store: Echo routing, token auth, decode, normalize, validate,
// answer. The store is an in-memory publisher, so this is the bridge's own
// cost per webhook.
func BenchmarkWebhookHarbor(b *testing.B) {
	pub := &memPublisher{}
	cfg := DefaultConfig()
	cfg.Receivers = []ReceiverConfig{{Name: "h", Format: "harbor", Target: target,
		Auth: AuthConfig{Method: AuthToken, Secrets: []string{"secret"}}}}
	s, err := New(cfg, Options{Publisher: pub})
	if err != nil {
		b.Fatal(err)
	}
	e := s.NewEcho()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		body := fmt.Sprintf(`{"type":"PUSH_ARTIFACT","occur_at":1700000000,"operator":"ci","event_data":{"resources":[{"digest":"sha256:%064d","tag":"t%d","resource_url":"harbor.local/team/app:t%d"}],"repository":{"name":"app","namespace":"team","repo_full_name":"team/app","repo_type":"private"}}}`, i, i, i)
		req := httptest.NewRequest(http.MethodPost, "/webhooks/h", strings.NewReader(body))
		req.Header.Set("Authorization", "secret")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
