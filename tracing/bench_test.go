package tracing_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/scan-bridge/scan-bridge/tracing"
)

// BenchmarkInject is what queue.Publish adds to each stored job: nothing
// but a load with tracing off; with it on, the traceparent header.
func BenchmarkInject(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[on]
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			if on {
				tp := sdktrace.NewTracerProvider()
				defer tracing.Install(tp)()
				c, s := tp.Tracer("bench").Start(ctx, "webhook")
				defer s.End()
				ctx = c
			}
			b.ReportAllocs()
			for b.Loop() {
				h := map[string][]string{"Nats-Msg-Id": {"id"}, "Nats-Expected-Stream": {"SCANJOBS"}}
				tracing.Inject(ctx, h)
			}
		})
	}
}
