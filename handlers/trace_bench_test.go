package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/scan-bridge/scan-bridge/tracing"
)

// discardExporter is an exporter that drops what it is given: the SDK's
// whole cost (span, attributes, batching) without a collector.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkWebhookHarborTracing is BenchmarkWebhookHarbor with tracing
// off (the default: one atomic load per request), and on with the SDK
// batching into an exporter that drops everything, with and without a
// sender's traceparent.
func BenchmarkWebhookHarborTracing(b *testing.B) {
	for _, mode := range []struct {
		name        string
		on          bool
		traceparent string
	}{
		{name: "off"},
		{name: "on", on: true},
		{name: "on-traceparent", on: true, traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	} {
		b.Run(mode.name, func(b *testing.B) {
			if mode.on {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
				defer func() { _ = tp.Shutdown(context.Background()) }()
				defer tracing.Install(tp)()
			}
			cfg := DefaultConfig()
			cfg.Receivers = []ReceiverConfig{{Name: "h", Format: "harbor", Target: target,
				Auth:      AuthConfig{Method: AuthToken, Secrets: []string{"bench-secret-0123456789"}},
				RateLimit: RateLimitConfig{PerSecond: 1e9, Burst: 1e9}}}
			s, err := New(cfg, Options{Publisher: &memPublisher{}})
			if err != nil {
				b.Fatal(err)
			}
			e := s.NewEcho()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				body := fmt.Sprintf(`{"type":"PUSH_ARTIFACT","occur_at":1700000000,"operator":"ci","event_data":{"resources":[{"digest":"sha256:%064d","tag":"t%d","resource_url":"harbor.local/team/app:t%d"}],"repository":{"name":"app","namespace":"team","repo_full_name":"team/app","repo_type":"private"}}}`, i, i, i)
				req := httptest.NewRequest(http.MethodPost, "/webhooks/h", strings.NewReader(body))
				req.Header.Set("Authorization", "bench-secret-0123456789")
				if mode.traceparent != "" {
					req.Header.Set("traceparent", mode.traceparent)
				}
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				if rec.Code != http.StatusAccepted {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
