package scanner

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

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
func (h *HSS) UseQuota(q *Quota) {
	h.limiter = q.Limiter(APIBatchScan, PriorityPush)
}

var _ ratelimit.Limiter = quotaLimiter{}
