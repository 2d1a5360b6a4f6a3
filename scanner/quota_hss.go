package scanner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
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
	h.limiter = q.Limiter(APIBatchScan, PriorityPush)
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

// Dry-run lifecycle timings: long enough for the watcher to see the scan
// running (it asks for rows in progress every 30 s at most), short
// enough to watch a whole lifecycle in a minute or two.
const (
	dryRunScanQueue  = 3 * time.Second
	dryRunScanLength = 40 * time.Second
)

// UseLifecycleSimulator replaces a dry run's simulator by one that models
// the lifecycle: every image a batch-scan names has been replicated into
// SWR and synced by HSS just before the call (nothing pushes to the
// simulator's SWR, and an image HSS does not know is not scanned), and a scan
// waits 3 s and runs 40 s before its result, so a dry run's log shows
// accepted, scan_requested, scanning and scanned. NewHSS's simulator
// answers every call at once and knows no images. A no-op outside a dry
// run. userAgent is Options.UserAgent.
func (h *HSS) UseLifecycleSimulator(dryRun bool, userAgent string) error {
	if !dryRun {
		return nil
	}
	fake := hsstest.New(hsstest.SimulatorOptions(hsstest.Options{Tokens: []string{"dry-run"}, Logger: h.root,
		SyncDelay: -1, ScanQueueDelay: dryRunScanQueue, ScanDuration: dryRunScanLength}))
	auth, err := hssclient.StaticToken(hssclient.NewSecret("dry-run"))
	if err != nil {
		return err
	}
	cfg := hssclient.Config{Auth: auth, Endpoint: "http://hss-simulator.invalid", UserAgent: userAgent,
		CallTimeout: h.cfg.CallTimeout}
	c, err := hssclient.New(cfg, hssclient.WithLogger(h.root), hssclient.WithObserver(h.metrics),
		hssclient.WithHTTPClient(&http.Client{Transport: replicating{fake: fake, next: fake.Transport()}}))
	if err != nil {
		return fmt.Errorf("hss simulator client: %w", err)
	}
	h.client = c
	return nil
}

// replicating is the dry run's stand-in for a registry that replicates
// into SWR and an HSS that has synced: before a batch-scan reaches the
// simulator, the images it names are put into the simulator's SWR and
// made known to its HSS.
type replicating struct {
	fake *hsstest.Fake
	next http.RoundTripper
}

func (r replicating) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/image/batch-scan") || req.Body == nil {
		return r.next.RoundTrip(req)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	var b struct {
		ImageType string `json:"image_type"`
		Images    []struct {
			Namespace    string `json:"namespace"`
			ImageName    string `json:"image_name"`
			ImageVersion string `json:"image_version"`
		} `json:"image_info_list"`
	}
	if json.Unmarshal(body, &b) == nil && b.ImageType != "" {
		// /v5/{project_id}/image/batch-scan
		parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
		if len(parts) >= 2 {
			t := hsstest.Target{Region: req.Header.Get("region"), ProjectID: parts[1]}
			at := time.Now().Add(-time.Second)
			for _, im := range b.Images {
				r.fake.PushToSWR(t, b.ImageType, im.Namespace, im.ImageName, im.ImageVersion, "", at)
			}
			if len(b.Images) > 0 {
				r.fake.Synchronize(t, b.ImageType)
			}
		}
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return r.next.RoundTrip(req)
}
