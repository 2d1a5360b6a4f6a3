package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/natsconn"
	"github.com/scan-bridge/scan-bridge/notify"
)

// startNotify starts the result webhooks (notify.webhooks,
// docs/notifications.md) on the results stream the lifecycle publisher
// writes: one durable consumer per webhook, shared by the replicas. With
// no webhooks it starts nothing and returns nil.
func startNotify(ctx context.Context, cfg config.Config, js jetstream.JetStream, life *lifecycleParts, reg prometheus.Registerer, log *slog.Logger) (*notify.Notifier, error) {
	if len(cfg.Notify.Webhooks) == 0 {
		return nil, nil
	}
	results := life.pub.Config()
	var n *notify.Notifier
	err := natsconn.RetryJetStream(ctx, log, "start result webhooks", func(ctx context.Context) (err error) {
		n, err = notify.Start(ctx, js, cfg.Notify, notify.Options{Stream: results.Stream, Subject: results.Subject, Registry: reg, Logger: log})
		return err
	})
	if err != nil {
		return nil, err
	}
	log.Info("result webhooks started", "webhooks", len(cfg.Notify.Webhooks), "stream", results.Stream)
	return n, nil
}

// shutdownNotify lets the deliveries under way finish within a third of
// the grace; the rest go back to the stream for another replica or the
// next start.
func shutdownNotify(n *notify.Notifier, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace/3)
	defer cancel()
	n.Shutdown(ctx)
}
