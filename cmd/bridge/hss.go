package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/natsconn"
	"github.com/scan-bridge/scan-bridge/scanner"
)

// newHSS builds the HSS side of the bridge (package scanner) from the
// configuration, for serve and for scan alike.
// A dry run's simulator models the lifecycle (a push reaches its SWR,
// syncs and scans take time), so its log shows accepted,
// waiting_presence, scan_requested, scanning and scanned.
func newHSS(cfg config.Config, reg prometheus.Registerer, log *slog.Logger) (*scanner.HSS, error) {
	return scanner.NewHSS(cfg.HSS, scanner.Options{DryRun: cfg.DryRun, Registry: reg, Logger: log,
		UserAgent: "scan-bridge/" + version, PresenceTimeouts: cfg.PresenceTimeouts()})
}

// sharedLimitTimeout bounds connecting to the bridge's NATS and opening
// the shared limiter for a scan asked for by hand.
const sharedLimitTimeout = 15 * time.Second

// joinSharedLimit makes h, a scan asked for by hand, take its permit from
// the running bridge's shared limiter when hss.shared_limit is on: the
// quota is the user's, so a scan beside a busy bridge must queue behind
// it, not spend a permit of its own. natsconn.Dial finds NATS as for
// bridge dlq (flagURL, nats.url, else the embedded server at nats.listen,
// with the config's credentials). The returned func closes the connection.
//
// Without NATS the scan fails rather than fall back to a local limit,
// which would overrun the quota while the bridge runs; a dry run calls
// no real HSS, so there it falls back and says so.
func joinSharedLimit(ctx context.Context, cfg config.Config, flagURL string, h *scanner.HSS, log *slog.Logger) (func(), error) {
	if !cfg.HSS.SharedLimit {
		return func() {}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, sharedLimitTimeout)
	defer cancel()
	nc, err := openSharedLimit(ctx, cfg, flagURL, h)
	if err == nil {
		return nc.Close, nil
	}
	if cfg.DryRun {
		log.Info("dry run: the bridge's shared rate limit is out of reach; using a process-local one", "error", err)
		return func() {}, nil
	}
	return nil, fmt.Errorf("hss.shared_limit is on, so the scan takes its permit from the bridge's shared rate limit, "+
		"over the bridge's NATS (nats.url, else nats://<nats.listen> of its embedded server, or --nats-url): %w; "+
		"with no bridge running, BRIDGE_HSS__SHARED_LIMIT=false makes the scan use a process-local limit", err)
}

// openSharedLimit connects to the bridge's NATS and switches h to the
// shared limiter on the KV key the bridge uses.
func openSharedLimit(ctx context.Context, cfg config.Config, flagURL string, h *scanner.HSS) (*nats.Conn, error) {
	nc, err := natsconn.Dial(ctx, cfg.NATS.Config, flagURL, "scan-bridge-scan")
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err == nil {
		// The bucket's replicas default to the job stream's, as in serve.
		err = h.UseSharedLimit(ctx, js, cfg.Queue.WithDefaults().Stream.Replicas)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats %s: %w", nc.ConnectedUrlRedacted(), err)
	}
	return nc, nil
}
