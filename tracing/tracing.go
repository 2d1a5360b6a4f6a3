package tracing

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of every span the bridge starts.
const ScopeName = "github.com/scan-bridge/scan-bridge"

// DefaultServiceName is service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES says otherwise.
const DefaultServiceName = "scan-bridge"

// shutdownTimeout bounds the final flush of the spans still queued: a
// collector that is down must not hold a stopping bridge past its grace.
const shutdownTimeout = 5 * time.Second

// Options are what Setup needs besides the environment.
type Options struct {
	// Version is service.version; empty leaves it out.
	Version string
	// Logger receives the SDK's export errors (rate-limited by the SDK's
	// batching: one line per failed export) and the line saying tracing
	// is on; nil discards.
	Logger *slog.Logger
	// Getenv reads the environment; nil is os.Getenv. Tests set it.
	Getenv func(string) string
}

var on atomic.Bool

// Enabled reports whether tracing is on. Hooks on the hot path check it
// first, so with tracing off a webhook pays one atomic load, not a no-op
// span and a header injection.
func Enabled() bool { return on.Load() }

// Tracer is the bridge's tracer from the global provider.
func Tracer() trace.Tracer { return otel.Tracer(ScopeName) }

// Propagator is the W3C Trace Context and Baggage propagator, the one the
// bridge installs and uses on NATS headers.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Install makes tp the global provider, installs Propagator and turns
// Enabled on. Setup calls it; tests call it with a provider over
// tracetest's in-memory exporter. The returned function undoes it
// (globals back to no-op, Enabled off); it does not shut tp down.
func Install(tp trace.TracerProvider) (uninstall func()) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator())
	on.Store(true)
	return func() {
		on.Store(false)
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	}
}

// Setup turns tracing on when the standard environment asks for it, and
// returns the function that flushes and stops it (bounded by
// shutdownTimeout whatever ctx says). Off, it installs nothing and the
// returned function does nothing.
//
// On means: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint set
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and
// OTEL_SDK_DISABLED is not true. OTEL_TRACES_EXPORTER=none keeps it off
// whatever the endpoint. The rest of the standard environment is read by
// the SDK itself: the exporter's OTEL_EXPORTER_OTLP_* (endpoint, headers,
// timeout, TLS, compression), OTEL_TRACES_SAMPLER and _ARG, OTEL_BSP_*,
// OTEL_SPAN_*_LIMIT, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
//
// The exporter is OTLP over OTEL_EXPORTER_OTLP_PROTOCOL (or its _TRACES_
// form): http/protobuf (the default), http/json or grpc. Both exporters
// are built in: the HTTP one already links gRPC's generated types, so
// the gRPC one costs the binary little (docs/operations.md has the sizes).
func Setup(ctx context.Context, o Options) (shutdown func(context.Context) error, err error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nothing := func(context.Context) error { return nil }
	enabled, err := wanted(getenv)
	if err != nil || !enabled {
		return nothing, err
	}
	var exp sdktrace.SpanExporter
	if protocol(getenv) == "grpc" {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nothing, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", DefaultServiceName)}
	if o.Version != "" {
		attrs = append(attrs, attribute.String("service.version", o.Version))
	}
	// Later detectors win: the environment overrides the defaults.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(attrs...), resource.WithFromEnv())
	if err != nil {
		return nothing, fmt.Errorf("tracing: resource (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME): %w", err)
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("trace export failed", "error", err)
	}))
	// The sampler is left to the SDK: it reads OTEL_TRACES_SAMPLER itself,
	// and its default is parentbased_always_on.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	uninstall := Install(tp)
	log.Info("tracing on", "exporter", "otlp", "protocol", cmp.Or(protocol(getenv), "http/protobuf"))
	return func(ctx context.Context) error {
		uninstall()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("tracing: flush spans: %w", err)
		}
		return nil
	}, nil
}

// wanted reads the environment's decision; an error names the variable
// and what it accepts.
func wanted(getenv func(string) string) (bool, error) {
	if v := strings.TrimSpace(getenv("OTEL_SDK_DISABLED")); strings.EqualFold(v, "true") {
		return false, nil
	}
	exporter := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")))
	endpoint := getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	switch exporter {
	case "none":
		return false, nil
	case "":
		if !endpoint {
			return false, nil
		}
	case "otlp":
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: the bridge exports traces with otlp only; use otlp or none", exporter)
	}
	switch p := protocol(getenv); p {
	case "", "http/protobuf", "http/json", "grpc":
	default:
		return false, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: use http/protobuf, http/json or grpc", p)
	}
	return true, nil
}

// protocol is the OTLP protocol the environment asks for, the
// traces-specific variable first, as the exporter reads them.
func protocol(getenv func(string) string) string {
	return strings.ToLower(strings.TrimSpace(cmp.Or(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))))
}
