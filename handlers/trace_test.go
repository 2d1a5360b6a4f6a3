package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/labstack/echo/v4"
	"github.com/scan-bridge/scan-bridge/scanjob"
	"github.com/scan-bridge/scan-bridge/tracing"
)

// ctxPublisher keeps the span context each job was published under: what
// queue.Publish writes into the job's headers.
type ctxPublisher struct {
	memPublisher
	mu    sync.Mutex
	spans []trace.SpanContext
}

func (p *ctxPublisher) Publish(ctx context.Context, j scanjob.Job) (bool, error) {
	p.mu.Lock()
	p.spans = append(p.spans, trace.SpanContextFromContext(ctx))
	p.mu.Unlock()
	return p.memPublisher.Publish(ctx, j)
}

func TestWebhookSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(tracing.Install(tp))
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tok := ReceiverConfig{Name: "tok", Format: "generic", Target: target,
		Auth: AuthConfig{Method: AuthToken, Secrets: []string{"tok-secret-0123456789"}}}

	tests := []struct {
		name, method, path, auth, traceparent string
		wantSpan                              string // "" = no span
		wantStatus, wantJobs                  int
	}{
		{name: "accepted, continuing the sender's trace", method: http.MethodPost, path: "/webhooks/tok", auth: "tok-secret-0123456789",
			traceparent: traceparent, wantSpan: "webhook tok", wantStatus: 202, wantJobs: 2},
		{name: "accepted, new trace", method: http.MethodPost, path: "/webhooks/tok", auth: "tok-secret-0123456789",
			wantSpan: "webhook tok", wantStatus: 202, wantJobs: 2},
		{name: "refused sender", method: http.MethodPost, path: "/webhooks/tok", auth: "wrong",
			traceparent: traceparent, wantSpan: "webhook tok", wantStatus: 401, wantJobs: -1},
		{name: "unknown receiver: a fixed span name", method: http.MethodPost, path: "/webhooks/made-up-name",
			wantSpan: "webhook unknown", wantStatus: 401, wantJobs: -1}, // refuseUnknown answers as for a bad secret
		{name: "probe: no span", method: http.MethodGet, path: "/healthz"},
		{name: "handshake: no span", method: http.MethodOptions, path: "/webhooks/tok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp.Reset()
			pub := &ctxPublisher{}
			e := newTestServer(t, pub, tok)
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(push))
			req.Header.Set("Authorization", tt.auth)
			req.Header.Set("WebHook-Request-Origin", "example.com")
			if tt.traceparent != "" {
				req.Header.Set("traceparent", tt.traceparent)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			spans := exp.GetSpans()
			if tt.wantSpan == "" {
				if len(spans) != 0 {
					t.Fatalf("spans %v, want none", spans)
				}
				return
			}
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name != tt.wantSpan || s.SpanKind != trace.SpanKindServer {
				t.Fatalf("span %q kind %v, want %q server", s.Name, s.SpanKind, tt.wantSpan)
			}
			if got := s.Parent.SpanID().String(); tt.traceparent != "" && got != "b7ad6b7169203331" ||
				tt.traceparent == "" && s.Parent.IsValid() {
				t.Fatalf("parent %s, traceparent %q", got, tt.traceparent)
			}
			want := map[attribute.Key]attribute.Value{
				"http.response.status_code": attribute.IntValue(tt.wantStatus),
				"scanbridge.request_id":     attribute.StringValue(rec.Header().Get("X-Request-Id")),
			}
			if tt.wantJobs >= 0 {
				want["scanbridge.jobs"] = attribute.IntValue(tt.wantJobs)
			}
			if tt.wantSpan != "webhook unknown" {
				want["scanbridge.receiver"], want["scanbridge.format"] = attribute.StringValue("tok"), attribute.StringValue("generic")
			}
			got := map[attribute.Key]attribute.Value{}
			for _, a := range s.Attributes {
				got[a.Key] = a.Value
			}
			if len(got) != len(want) {
				t.Fatalf("attributes %v, want %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("attribute %s = %v, want %v", k, got[k].Emit(), v.Emit())
				}
			}
			for _, sc := range pub.spans {
				if sc.SpanID() != s.SpanContext.SpanID() {
					t.Fatalf("job published under span %v, want the webhook's %v", sc.SpanID(), s.SpanContext.SpanID())
				}
			}
			if len(pub.spans) != max(tt.wantJobs, 0) {
				t.Fatalf("%d jobs published, want %d", len(pub.spans), tt.wantJobs)
			}
		})
	}
}

// The admin listener faces operators, not registries: no webhook spans.
func TestAdminEchoIsNotTraced(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	t.Cleanup(tracing.Install(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))))
	s, err := New(DefaultConfig(), Options{Publisher: &memPublisher{}})
	if err != nil {
		t.Fatal(err)
	}
	e := s.NewAdminEcho()
	e.POST("/webhooks/:receiver", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/webhooks/x", nil))
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans on the admin listener", n)
	}
}
