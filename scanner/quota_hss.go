package scanner

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/ratelimit"
)

// OpenQuota builds the quota of c: process-local limiters, or, with
// hss.shared_limit and a JetStream handle, shared ones in hss.limit_kv's
// bucket (replicas: the bucket's replica count when hss.limit_kv.replicas
// leaves it 0, the job stream's). Every API gets the same rate settings
// (hss.calls_per_minute, hss.burst): HSS gives each API the same quota.
func (c Config) OpenQuota(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) (*Quota, error) {
	if !c.SharedLimit || js == nil {
		return NewLocalQuota(c.rateConfig(), log)
	}
	kv := c.LimitKV
	if kv.Replicas == 0 {
		kv.Replicas = replicas
	}
	return OpenSharedQuota(ctx, js, c.rateConfig(), kv, log)
}

// UseQuota makes h take its batch-scan permits from q's batch-scan budget
// at push priority, instead of its own limiter (UseSharedLimit): then a
// batch-scan and a watch or presence call of the same replica share one
// scheduler, and the shared state stays in the key batch-scan always used.
// Call it before the first Acquire.
//
// It also makes every call of h's client (any API) feed q's AuthHealth.
//
// It exports each API's current rate as
// scanbridge_hss_quota_per_minute{api} (batch-scan's stays
// scanbridge_hss_rate_limit_per_minute too). Call it once per registry.
func (h *HSS) UseQuota(q *Quota) {
	h.limiter = q.Limiter(h.catalog.ScanAPI(), PriorityPush)
	h.metrics.health = q.health
	if h.metrics.reg == nil {
		return
	}
	for _, api := range APIs {
		if _, ok := q.lanes[api]; !ok {
			continue
		}
		h.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "scanbridge_hss_quota_per_minute",
			Help:        "Calls per minute each HSS API's budget allows now (the ceiling, or less after 429s).",
			ConstLabels: prometheus.Labels{"api": string(api)}}, func() float64 { return q.Rate(api) }))
	}
}

var _ ratelimit.Limiter = quotaLimiter{}

// Logged is h for the consumer. The INFO line of each batch-scan call
// and the scan_requested records are HSS.Scan's own now; Logged stays so
// that callers need not change.
func (h *HSS) Logged() queue.Scanner { return h }

// Client is h's HSS client (the simulator's in a dry run), for the
// watcher: its calls count in h's metrics and feed the AuthHealth like
// the batch-scans.
func (h *HSS) Client() *hssclient.Client { return h.client }
