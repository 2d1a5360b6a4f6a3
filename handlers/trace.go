package handlers

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/scan-bridge/scan-bridge/tracing"
)

// traceWebhooks starts the span of each webhook delivery, "webhook
// <receiver>", continuing the sender's traceparent; queue.Publish stores
// its context with every job, and the HSS call that scans them links back
// to it. It is written here rather than taken from the contrib Echo
// instrumentation, which is not among the modules the build may use, and
// because it is a few lines: one route, a bounded span name, the
// attributes the bridge knows.
//
// Only POST /webhooks/* is traced: probes would flood the traces. An
// unknown receiver's span is "webhook unknown", so a scanner of names
// cannot create span names at will.
//
// Echo applies its middleware to the handler on every request, so a
// middleware that wraps costs an allocation per request even when it
// does nothing. With tracing off when the Echo is built (Setup runs
// before, in cmd/bridge), this one returns the handler as it is: no cost
// but a call.
func (s *Server) traceWebhooks() echo.MiddlewareFunc {
	if !tracing.Enabled() {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if !tracing.Enabled() || req.Method != http.MethodPost || !strings.HasPrefix(c.Path(), "/webhooks/") {
				return next(c)
			}
			name := c.Param("receiver")
			r, known := s.snap.Load().receivers[name]
			spanName, format := "webhook unknown", ""
			if known {
				spanName, format = "webhook "+name, r.cfg.Format
			}
			ctx, span := tracing.Tracer().Start(tracing.ExtractHTTP(req.Context(), req.Header), spanName,
				trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
			c.SetRequest(req.WithContext(ctx))
			err := next(c)
			status := c.Response().Status
			if he := (*echo.HTTPError)(nil); errors.As(err, &he) {
				status = he.Code
			} else if err != nil {
				status = http.StatusInternalServerError
			}
			attrs := []attribute.KeyValue{attribute.Int("http.response.status_code", status),
				attribute.String("scanbridge.request_id", c.Response().Header().Get(echo.HeaderXRequestID))}
			if known {
				attrs = append(attrs, attribute.String("scanbridge.receiver", name), attribute.String("scanbridge.format", format))
			}
			endSpan(span, status, attrs)
			return err
		}
	}
}

// tracedNATSProcess is natsProcess inside the span "nats intake
// <receiver>", continuing the trace of the message's headers: the
// publisher is an internal service, so its baggage is kept too.
func (s *Server) tracedNATSProcess(ctx context.Context, name string, m *nats.Msg, reqID string) (int, Answer) {
	if !tracing.Enabled() {
		return s.natsProcess(ctx, name, m, reqID)
	}
	spanName := "nats intake unknown"
	var attrs []attribute.KeyValue
	if r, ok := s.snap.Load().receivers[name]; ok {
		spanName = "nats intake " + name
		attrs = append(attrs, attribute.String("scanbridge.receiver", name),
			attribute.String("scanbridge.format", cmp.Or(m.Header.Get(FormatHeader), r.cfg.Format)))
	}
	ctx, span := tracing.Tracer().Start(tracing.Extract(ctx, m.Header), spanName, trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()
	code, ans := s.natsProcess(ctx, name, m, reqID)
	endSpan(span, code, append(attrs, attribute.Int("http.response.status_code", code), attribute.String("scanbridge.request_id", reqID)))
	return code, ans
}

// traceJobs records on the request's span how many jobs it stored.
func traceJobs(ctx context.Context, n int) {
	if !tracing.Enabled() {
		return
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attribute.Int("scanbridge.jobs", n))
	}
}

// endSpan sets the outcome's attributes, and an error status for a 5xx:
// a refused sender (4xx) is the sender's error, not the bridge's (the
// OpenTelemetry HTTP server convention).
func endSpan(span trace.Span, status int, attrs []attribute.KeyValue) {
	span.SetAttributes(attrs...)
	if status >= http.StatusInternalServerError {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}
