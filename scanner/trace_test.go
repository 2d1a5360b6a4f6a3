package scanner

import (
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/scanjob"
	"github.com/scan-bridge/scan-bridge/tracing"
)

// Each HSS call is a span linked to the jobs the queue put in its
// context, and says what HSS answered: status, error code, request id.
func TestScanSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	t.Cleanup(tracing.Install(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))))
	fake := tokenFake(hsstest.Options{})
	h := newTestHSS(t, fake, DefaultConfig(), nil)
	h.limiter = &fakeLimiter{}
	job1 := trace.NewSpanContext(trace.SpanContextConfig{TraceID: [16]byte{1}, SpanID: [8]byte{1}, TraceFlags: trace.FlagsSampled, Remote: true})
	job2 := trace.NewSpanContext(trace.SpanContextConfig{TraceID: [16]byte{2}, SpanID: [8]byte{2}, TraceFlags: trace.FlagsSampled, Remote: true})

	tests := []struct {
		name   string
		status int // the fake's failure; 0 accepts
		links  []trace.SpanContext
		want   map[attribute.Key]attribute.Value
	}{
		{name: "accepted, two jobs", links: []trace.SpanContext{job1, job2}, want: map[attribute.Key]attribute.Value{
			"http.response.status_code": attribute.IntValue(200), "scanbridge.jobs": attribute.IntValue(2)}},
		{name: "throttled", status: http.StatusTooManyRequests, links: []trace.SpanContext{job1}, want: map[attribute.Key]attribute.Value{
			"http.response.status_code": attribute.IntValue(429), "hss.error_code": attribute.StringValue("APIGW.0308"),
			"hss.outcome": attribute.StringValue("retry"), "scanbridge.jobs": attribute.IntValue(1)}},
		{name: "refused", status: http.StatusBadRequest, want: map[attribute.Key]attribute.Value{
			"http.response.status_code": attribute.IntValue(400), "hss.error_code": attribute.StringValue("HSS.0001"),
			"hss.outcome": attribute.StringValue("permanent"), "scanbridge.jobs": attribute.IntValue(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp.Reset()
			if tt.status != 0 {
				fake.FailNext(1, tt.status, "")
			}
			var links []trace.Link
			for _, sc := range tt.links {
				links = append(links, trace.Link{SpanContext: sc})
			}
			err := h.Scan(tracing.WithLinks(t.Context(), links), testTarget, []scanjob.Job{job("1"), job("2")})
			if (err != nil) != (tt.status != 0) {
				t.Fatalf("Scan: %v", err)
			}
			spans := exp.GetSpans()
			if len(spans) != 1 || spans[0].Name != "hss batch-scan" || spans[0].SpanKind != trace.SpanKindClient {
				t.Fatalf("spans %v, want one hss batch-scan client span", spans)
			}
			s := spans[0]
			got := map[attribute.Key]attribute.Value{}
			for _, a := range s.Attributes {
				got[a.Key] = a.Value
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k].Emit(), v.Emit())
				}
			}
			if got["hss.items"] != attribute.IntValue(2) || got["hss.target"].AsString() == "" {
				t.Errorf("attributes %v: want hss.items 2 and the target", got)
			}
			if id := got["hss.request_id"].AsString(); (tt.status != 0) != (id != "") {
				t.Errorf("hss.request_id %q with status %d", id, tt.status)
			}
			if (s.Status.Code == codes.Error) != (tt.status != 0) {
				t.Errorf("status %v", s.Status)
			}
			if len(s.Links) != len(tt.links) {
				t.Fatalf("%d links, want %d", len(s.Links), len(tt.links))
			}
			for i, l := range s.Links {
				if !l.SpanContext.Equal(tt.links[i]) {
					t.Errorf("link %d: %v, want %v", i, l.SpanContext, tt.links[i])
				}
			}
		})
	}
}
