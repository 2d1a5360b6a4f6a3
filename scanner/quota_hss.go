package scanner

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/ratelimit"
	"github.com/scan-bridge/scan-bridge/scanjob"
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
func (h *HSS) UseQuota(q *Quota) {
	h.limiter = q.Limiter(APIBatchScan, PriorityPush)
	h.metrics.health = q.health
}

var _ ratelimit.Limiter = quotaLimiter{}

// Logged is h for the consumer, with one INFO line per batch-scan call:
// the target, the images, HSS's request id, the result and the job ids
// (hssclient logs calls at debug level only, without the jobs).
func (h *HSS) Logged() queue.Scanner { return loggedHSS{h} }

type loggedHSS struct{ *HSS }

func (l loggedHSS) Scan(ctx context.Context, t scanjob.Target, items []scanjob.Job) error {
	start := time.Now()
	err := l.HSS.Scan(ctx, t, items)
	ids := make([]string, len(items))
	for i, j := range items {
		ids[i] = j.ID()
	}
	c := CallRecord{API: APIBatchScan, Target: hssTarget(t).String(), Images: len(items), JobIDs: ids,
		Err: err, Duration: time.Since(start)}
	class := hssclient.Classify(err)
	status, reqID := 0, ""
	var ae *hssclient.APIError
	if errors.As(err, &ae) {
		status, reqID = ae.StatusCode, ae.RequestID
	} else if err == nil {
		status = http.StatusOK
	}
	logCall(ctx, l.log, c, callResult(class, status), status, reqID)
	return err
}

// Client is h's HSS client (the simulator's in a dry run), for the
// watcher: its calls count in h's metrics and feed the AuthHealth like
// the batch-scans.
func (h *HSS) Client() *hssclient.Client { return h.client }
