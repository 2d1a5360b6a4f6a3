package tracing_test

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/scan-bridge/scan-bridge/tracing"
)

const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

func install(t *testing.T) trace.Tracer {
	t.Helper()
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(tracing.Install(tp))
	return tp.Tracer("test")
}

// A job's headers carry its span across NATS: what Inject writes, Extract
// and Link read back; the keys are written lower case, and a header
// written in the canonical form is read too.
func TestHeadersCarryTheSpanContext(t *testing.T) {
	tr := install(t)
	member, _ := baggage.NewMember("tenant", "a")
	bag, _ := baggage.New(member)
	ctx, span := tr.Start(baggage.ContextWithBaggage(context.Background(), bag), "webhook")
	defer span.End()

	h := map[string][]string{"Nats-Msg-Id": {"job-1"}}
	tracing.Inject(ctx, h)
	if len(h["traceparent"]) != 1 || len(h["baggage"]) != 1 || h["Nats-Msg-Id"][0] != "job-1" {
		t.Fatalf("headers %v: want traceparent and baggage beside Nats-Msg-Id", h)
	}
	got := tracing.Extract(context.Background(), h)
	if sc := trace.SpanContextFromContext(got); sc.SpanID() != span.SpanContext().SpanID() || !sc.IsRemote() {
		t.Fatalf("extracted %v, want %v", sc, span.SpanContext())
	}
	if v := baggage.FromContext(got).Member("tenant").Value(); v != "a" {
		t.Fatalf("baggage tenant %q, want a", v)
	}
	l, ok := tracing.Link(h, attribute.String("scanbridge.job_id", "job-1"))
	if !ok || l.SpanContext.SpanID() != span.SpanContext().SpanID() || len(l.Attributes) != 1 {
		t.Fatalf("link %v, %v", l, ok)
	}
	canonical := map[string][]string{"Traceparent": {parent}}
	if l, ok := tracing.Link(canonical); !ok || l.SpanContext.SpanID().String() != "b7ad6b7169203331" {
		t.Fatalf("canonical header: link %v, %v", l, ok)
	}
}

func TestLinkWithoutAContext(t *testing.T) {
	for name, h := range map[string]map[string][]string{
		"no headers":       nil,
		"no traceparent":   {"Nats-Msg-Id": {"x"}},
		"bad traceparent":  {"traceparent": {"00-zz-yy-01"}},
		"all-zero trace":   {"traceparent": {"00-00000000000000000000000000000000-b7ad6b7169203331-01"}},
		"empty values":     {"traceparent": {}},
		"unknown version":  {"traceparent": {"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
		"baggage only":     {"baggage": {"a=b"}},
		"truncated parent": {"traceparent": {parent[:30]}},
	} {
		if l, ok := tracing.Link(h); ok {
			t.Errorf("%s: link %v, want none", name, l)
		}
	}
}

// A sender on the internet sets traceparent, not baggage: ExtractHTTP
// takes the first and drops the second.
func TestExtractHTTPTakesNoBaggage(t *testing.T) {
	install(t)
	ctx := tracing.ExtractHTTP(context.Background(), http.Header{"Traceparent": {parent}, "Baggage": {"big=x"}})
	if !trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatal("traceparent not extracted")
	}
	if n := baggage.FromContext(ctx).Len(); n != 0 {
		t.Fatalf("%d baggage members taken from the internet", n)
	}
}

// Off, the hooks do nothing: no header written, no context read.
func TestOffDoesNothing(t *testing.T) {
	if tracing.Enabled() {
		t.Fatal("tracing on without Setup or Install")
	}
	h := map[string][]string{}
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: [16]byte{1}, SpanID: [8]byte{1}, TraceFlags: trace.FlagsSampled}))
	tracing.Inject(ctx, h)
	if len(h) != 0 {
		t.Fatalf("headers %v written with tracing off", h)
	}
	if got := tracing.Extract(context.Background(), map[string][]string{"traceparent": {parent}}); trace.SpanContextFromContext(got).IsValid() {
		t.Fatal("context extracted with tracing off")
	}
}

func TestWithLinksKeepsAtMostMaxLinks(t *testing.T) {
	tests := []struct{ in, want int }{{0, 0}, {1, 1}, {tracing.MaxLinks, tracing.MaxLinks}, {tracing.MaxLinks + 50, tracing.MaxLinks}}
	for _, tt := range tests {
		links := make([]trace.Link, tt.in)
		if got := len(tracing.Links(tracing.WithLinks(context.Background(), links))); got != tt.want {
			t.Errorf("%d links in: %d kept, want %d", tt.in, got, tt.want)
		}
	}
}

// The traceparent of a NATS message is a decoder of input from other
// services: no input makes it panic, and what it accepts is a valid
// context that Inject writes back the same.
func FuzzLink(f *testing.F) {
	for _, s := range []string{parent, "", "00-", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"} {
		f.Add(s)
	}
	tr := sdktrace.NewTracerProvider()
	f.Cleanup(tracing.Install(tr))
	f.Fuzz(func(t *testing.T, tp string) {
		l, ok := tracing.Link(map[string][]string{"traceparent": {tp}})
		if !ok {
			return
		}
		if !l.SpanContext.IsValid() {
			t.Fatalf("%q: invalid context accepted", tp)
		}
		h := map[string][]string{}
		tracing.Inject(trace.ContextWithRemoteSpanContext(context.Background(), l.SpanContext), h)
		back, ok := tracing.Link(h)
		if !ok || !back.SpanContext.Equal(l.SpanContext.WithRemote(true)) && !back.SpanContext.Equal(l.SpanContext) {
			t.Fatalf("%q: round trip %v → %v", tp, l.SpanContext, back.SpanContext)
		}
	})
}
