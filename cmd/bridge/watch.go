package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/natsconn"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
	"github.com/scan-bridge/scan-bridge/scanner"
)

// lifecycleParts are the image lifecycle's running parts: the record
// store, the results publisher, the quota every HSS call goes through and
// the watcher under its lease.
type lifecycleParts struct {
	quota *scanner.Quota
	store *lifecycle.Store
	pub   *lifecycle.Publisher
	lease *scanner.Lease
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

// openQuota builds the HSS quota (shared through hss.limit_kv when
// hss.shared_limit is on) and puts the consumer's batch-scans under it.
// It replaces HSS.UseSharedLimit: batch-scan keeps its KV key.
func openQuota(ctx context.Context, cfg config.Config, js jetstream.JetStream, h *scanner.HSS, replicas int, log *slog.Logger) (*scanner.Quota, error) {
	var q *scanner.Quota
	err := natsconn.RetryJetStream(ctx, log, "open hss quota", func(ctx context.Context) (err error) {
		q, err = cfg.HSS.OpenQuota(ctx, js, replicas, log)
		return err
	})
	if err != nil {
		return nil, err
	}
	h.UseQuota(q)
	return q, nil
}

// openLifecycle opens the lifecycle store and the results stream on the
// job stream's replicas, makes the consumer's scans write the records
// (HSS.UseLifecycle), registers the lifecycle metrics and prepares the
// watcher (started by lifecycleParts.run). It sets a.life.
func (a *app) openLifecycle(ctx context.Context, js jetstream.JetStream, quota *scanner.Quota, reg prometheus.Registerer) (*scanner.Watcher, error) {
	p, w, err := openLifecycle(ctx, a.cfg, js, a.q, a.hss, quota, reg, a.log)
	if err != nil {
		return nil, err
	}
	a.life = p
	return w, nil
}

func openLifecycle(ctx context.Context, cfg config.Config, js jetstream.JetStream, q *queue.Queue, h *scanner.HSS,
	quota *scanner.Quota, reg prometheus.Registerer, log *slog.Logger) (*lifecycleParts, *scanner.Watcher, error) {
	replicas := q.Config().Stream.Replicas
	p := &lifecycleParts{quota: quota}
	err := natsconn.RetryJetStream(ctx, log, "open lifecycle store", func(ctx context.Context) (err error) {
		if p.store, err = lifecycle.Open(ctx, js, cfg.Lifecycle.Store(replicas)); err != nil {
			return err
		}
		p.pub, err = lifecycle.OpenPublisher(ctx, js, p.store, cfg.Lifecycle.ResultStream(replicas), reg, log)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	h.UseLifecycle(p.store, p.pub)
	if err := lifecycle.RegisterStateMetrics(reg, p.store, cfg.Lifecycle.MetricsCache); err != nil {
		return nil, nil, fmt.Errorf("lifecycle metrics: %w", err)
	}
	if !cfg.HSS.Watch.Enabled {
		return p, nil, nil
	}
	records, err := js.KeyValue(ctx, p.store.Config().Bucket)
	if err != nil {
		return nil, nil, fmt.Errorf("lifecycle bucket: %w", err)
	}
	w, err := scanner.NewWatcher(cfg.HSS.Watch, scanner.WatcherDeps{Quota: quota, Catalog: h.Catalog(), Store: p.store, Records: records,
		Finish: p.pub, Resend: scanner.NewJobStream(js, q.Config().Stream), Dead: deadLetterJob{q}, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	bucket := cfg.HSS.LimitKV.WithDefaults().Bucket
	if p.lease, err = scanner.OpenLease(ctx, js, bucket, replicas, cfg.HSS.Watch, log); err != nil {
		return nil, nil, err
	}
	return p, w, nil
}

// run starts the watcher under its lease: the replica holding it first
// publishes the result events a crash left unpublished, then watches.
func (p *lifecycleParts) run(w *scanner.Watcher, log *slog.Logger) {
	if w == nil || p.lease == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	p.wg.Go(func() {
		p.lease.Run(ctx, func(ctx context.Context) {
			if n, err := p.pub.Republish(ctx); err != nil && ctx.Err() == nil {
				log.Warn("republish result events", "error", err)
			} else if n > 0 {
				log.Info("result events republished", "events", n)
			}
			w.Run(ctx)
		})
	})
}

// shutdown stops the watcher and gives its lease up.
func (p *lifecycleParts) shutdown() {
	if p == nil || p.stop == nil {
		return
	}
	p.stop()
	p.wg.Wait()
}

// deadLetterJob records a given-up image in the dead-letter stream
// (queue.Queue.DeadLetterJob: its job was acked when HSS accepted the
// scan, so there is no message to term).
type deadLetterJob struct{ q *queue.Queue }

func (d deadLetterJob) DeadLetter(ctx context.Context, j scanjob.Job, reason, msg string) error {
	return d.q.DeadLetterJob(ctx, j, reason, queue.Verdict{}, msg)
}

// readyAll is /readyz's check: NATS and the job stream, then HSS's
// authentication (a 401/403 makes the bridge not ready until a call
// succeeds).
type readyAll []handlers.Checker

func (r readyAll) Ready(ctx context.Context) error {
	for _, c := range r {
		if c == nil {
			continue
		}
		if err := c.Ready(ctx); err != nil {
			return err
		}
	}
	return nil
}
