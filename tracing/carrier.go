package tracing

import (
	"context"
	"net/http"
	"net/textproto"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// MaxLinks bounds the links of one span: the SDK's default link limit
// (OTEL_SPAN_LINK_COUNT_LIMIT), so a large batch costs no more than the
// SDK would keep anyway.
const MaxLinks = 128

// Headers adapts a NATS message's headers (nats.Header is a
// map[string][]string) to the propagator. It writes keys as the
// propagator names them (traceparent, lower case), as other NATS
// instrumentations do; nats.Header is case-sensitive, so Get also tries
// the canonical form (Traceparent) a publisher using http.Header rules
// may have written.
type Headers map[string][]string

var _ propagation.TextMapCarrier = Headers(nil)

// Get returns the first value of key.
func (h Headers) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	if v := h[textproto.CanonicalMIMEHeaderKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of key.
func (h Headers) Set(key, value string) { h[key] = []string{value} }

// Keys lists the header names.
func (h Headers) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the trace context of ctx (and its baggage) into a
// message's headers, which must not be nil. It does nothing when tracing
// is off or ctx carries no span.
func Inject(ctx context.Context, h map[string][]string) {
	if !Enabled() {
		return
	}
	otel.GetTextMapPropagator().Inject(ctx, Headers(h))
}

// Extract returns ctx with the remote trace context (and baggage) of a
// message's headers: an internal publisher's, so baggage is taken too.
// It returns ctx unchanged when tracing is off.
func Extract(ctx context.Context, h map[string][]string) context.Context {
	if !Enabled() || len(h) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, Headers(h))
}

// ExtractHTTP returns ctx with the traceparent (and tracestate) of an
// HTTP request from outside: the W3C Trace Context only, not baggage. A
// webhook sender is often on the internet and the bridge stores the
// context with every job, so baggage (up to 8 KiB per request) would let
// a sender grow every stored job for nothing the bridge uses.
func ExtractHTTP(ctx context.Context, h http.Header) context.Context {
	if !Enabled() {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(h))
}

// Link is the link to the span whose context a message's headers carry,
// with attrs (the job's id, say); ok is false when they carry none.
func Link(h map[string][]string, attrs ...attribute.KeyValue) (l trace.Link, ok bool) {
	if len(h) == 0 {
		return trace.Link{}, false
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), Headers(h)))
	if !sc.IsValid() {
		return trace.Link{}, false
	}
	return trace.Link{SpanContext: sc, Attributes: attrs}, true
}

type linksKey struct{}

// WithLinks returns ctx carrying links (at most MaxLinks are kept) for the
// span the callee starts: the queue builds them from the messages of one
// HSS call, and package scanner, which only sees the call's items, starts
// the call's span with them.
func WithLinks(ctx context.Context, links []trace.Link) context.Context {
	if len(links) == 0 {
		return ctx
	}
	return context.WithValue(ctx, linksKey{}, links[:min(len(links), MaxLinks):min(len(links), MaxLinks)])
}

// Links returns the links WithLinks put in ctx.
func Links(ctx context.Context) []trace.Link {
	l, _ := ctx.Value(linksKey{}).([]trace.Link)
	return l
}
