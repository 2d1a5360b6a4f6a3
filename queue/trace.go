package queue

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/scan-bridge/scan-bridge/tracing"
)

// Tracing hooks (package tracing says why they look this way): a stored
// job carries its webhook's trace context in its headers, and an HSS call
// and the settling of its messages are spans linked to every job they
// carry, since one call has many parents. With tracing off each hook costs
// one atomic load.

// injectTrace writes the trace context of ctx (the webhook's span) into a
// job message's headers before it is stored.
func injectTrace(ctx context.Context, h nats.Header) { tracing.Inject(ctx, h) }

// headered is what a held message has when it came from JetStream.
type headered interface{ Headers() nats.Header }

// callLinks are the links to the trace of every message of c, at most
// tracing.MaxLinks; nil when tracing is off.
func callLinks(c *call) []trace.Link {
	if !tracing.Enabled() {
		return nil
	}
	var links []trace.Link
	for _, h := range c.held() {
		if len(links) == tracing.MaxLinks {
			break
		}
		m, ok := h.msg.(headered)
		if !ok {
			continue
		}
		if l, ok := tracing.Link(m.Headers(), attribute.String("scanbridge.job_id", h.d.MsgID)); ok {
			links = append(links, l)
		}
	}
	return links
}

// traceCall returns ctx carrying the links of c for the span of its HSS
// call, which the Scanner starts (scanner.HSS: tracing.Links).
func traceCall(ctx context.Context, c *call) context.Context {
	return tracing.WithLinks(ctx, callLinks(c))
}

// traceFinish starts the span of the last lifecycle step of a call's
// messages, "queue settle", linked to each of them, with what happens to
// them: ack, nak (shutdown), bisect, dead-letter or retry. Call the
// returned function when they are settled.
func (b *batcher) traceFinish(c *call, err error) (end func()) {
	if !tracing.Enabled() {
		return func() {}
	}
	outcome := "ack"
	var v Verdict
	switch {
	case err == nil:
	case b.callCtx.Err() != nil:
		outcome = "nak"
	default:
		v = b.scanner.Judge(err)
		switch {
		case v.Class == Permanent && len(c.entries) > 1 && b.stopping:
			outcome = "nak"
		case v.Class == Permanent && len(c.entries) > 1:
			outcome = "bisect"
		case v.Class == Permanent:
			outcome = "dead-letter"
		default:
			outcome = "retry"
		}
	}
	_, span := tracing.Tracer().Start(context.Background(), "queue settle", trace.WithLinks(callLinks(c)...),
		trace.WithAttributes(attribute.String("scanbridge.target", c.target.Key()), attribute.Int("scanbridge.items", len(c.entries)),
			attribute.Int("scanbridge.messages", len(c.held())), attribute.String("scanbridge.outcome", outcome)))
	if outcome == "dead-letter" {
		span.SetStatus(codes.Error, "item rejected by HSS: dead-lettered")
	}
	return func() { span.End() }
}
