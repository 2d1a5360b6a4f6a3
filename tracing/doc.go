// Package tracing is the bridge's OpenTelemetry tracing: Setup turns it on
// from the standard OTEL_* environment (off by default), and the helpers
// here carry a trace from a webhook to the HSS call that scans its image.
//
// The path of one trace: the webhook span (package handlers, continuing a
// sender's traceparent) → the job's NATS headers (Inject, package queue) →
// the consumer, which packs many jobs into one HSS batch-scan call: that
// call's span cannot have one parent, so it carries one link per job
// (LinksFromHeaders, WithLinks, package queue) that package scanner adds
// when it starts the span (Links). The NATS intake continues the trace of
// the message it received (Extract).
//
// When tracing is off nothing is installed: the global provider stays
// OpenTelemetry's no-op one, and Enabled lets the hot path skip even the
// cheap no-op calls (handlers' BenchmarkWebhookHarborTracing: the same
// allocations as before tracing existed).
//
// Why a package of its own: the other packages only call these helpers,
// so the SDK, the exporter and the environment rules live in one place,
// and the hooks elsewhere stay a few lines. It must not import any other
// package of the module: handlers, queue and scanner all import it, so
// the arrows point one way, and it stays testable alone.
package tracing
