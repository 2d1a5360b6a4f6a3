package main

import (
	"context"
	"log/slog"

	"github.com/scan-bridge/scan-bridge/tracing"
)

// startTracing turns tracing on when the OTEL_* environment asks for it
// (package tracing; docs/operations.md, "Traces"). stop flushes the spans
// still queued, within a bounded time, and logs a failure: the bridge has
// stopped by then, and a collector that is down must not change its exit.
func startTracing(ctx context.Context, log *slog.Logger) (stop func(), err error) {
	shutdown, err := tracing.Setup(ctx, tracing.Options{Version: currentBuild().Version, Logger: log.With("component", "tracing")})
	if err != nil {
		return nil, err
	}
	return func() {
		if err := shutdown(context.Background()); err != nil {
			log.Warn("tracing stop", "error", err)
		}
	}, nil
}
