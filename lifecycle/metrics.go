package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latencyBuckets span a push scanned at once (seconds) to one given up
// after the scan timeout (hours).
var latencyBuckets = []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400}

// latencyHistogram registers scanbridge_push_to_scanned_seconds once per
// registry.
func latencyHistogram(reg prometheus.Registerer) *prometheus.HistogramVec {
	hv := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scanbridge_push_to_scanned_seconds",
		Help:    "Time from an image's push (its acceptance when the registry gave no push time) to the end of its lifecycle, by result (scanned, scan_failed, given_up).",
		Buckets: latencyBuckets,
	}, []string{"result"})
	// Every result is exported from the start, at zero: a panel or alert
	// on a result that has not happened yet reads 0, not "no data".
	for _, st := range []State{Scanned, ScanFailed, GivenUp} {
		hv.WithLabelValues(string(st))
	}
	if err := reg.Register(hv); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.HistogramVec); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("register lifecycle metrics: %v", err))
	}
	return hv
}

// observe records the latency of a lifecycle that just ended.
func (p *Publisher) observe(r Record) {
	if p.latency == nil {
		return
	}
	start := r.PushedAt
	if start.IsZero() || start.After(r.FinishedAt) {
		start = r.AcceptedAt // no push time, or a sender's clock ahead of ours
	}
	p.latency.WithLabelValues(string(r.State)).Observe(max(r.FinishedAt.Sub(start).Seconds(), 0))
}

// DefaultMetricsCache is how long the state gauges reuse one read of the
// bucket.
const DefaultMetricsCache = 30 * time.Second

// metricsTimeout bounds the bucket read of one scrape.
const metricsTimeout = 10 * time.Second

// RegisterStateMetrics registers, on reg, scanbridge_images{state} and
// scanbridge_oldest_unscanned_image_age_seconds, read from s (Counts)
// at most once per cacheFor (0: DefaultMetricsCache), so a scrape costs
// no more than one bucket read per interval. Every replica reports the
// same cluster-wide numbers: dashboards take max(). A failed read keeps
// the last numbers; before the first success the gauges are absent.
func RegisterStateMetrics(reg prometheus.Registerer, s *Store, cacheFor time.Duration) error {
	if reg == nil {
		return nil
	}
	if cacheFor <= 0 {
		cacheFor = DefaultMetricsCache
	}
	c := &stateCollector{
		s: s, cacheFor: cacheFor, now: time.Now,
		images: prometheus.NewDesc("scanbridge_images",
			"Images by lifecycle state, across all replicas (every replica reports the same: use max()).", []string{"state"}, nil),
		oldest: prometheus.NewDesc("scanbridge_oldest_unscanned_image_age_seconds",
			"Age of the oldest image whose lifecycle has not ended (0 when none), across all replicas (use max()).", nil, nil),
	}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("register lifecycle state metrics: %w", err)
	}
	return nil
}

// stateCollector reads Counts with a cache.
type stateCollector struct {
	s        *Store
	cacheFor time.Duration
	now      func() time.Time
	images   *prometheus.Desc
	oldest   *prometheus.Desc

	mu     sync.Mutex
	counts Counts
	readAt time.Time // zero until a read succeeded
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.images
	ch <- c.oldest
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.readAt.IsZero() || now.Sub(c.readAt) >= c.cacheFor {
		ctx, cancel := context.WithTimeout(context.Background(), metricsTimeout)
		counts, err := c.s.Counts(ctx)
		cancel()
		if err == nil {
			c.counts, c.readAt = counts, now
		}
	}
	if c.readAt.IsZero() {
		return
	}
	for _, st := range States {
		ch <- prometheus.MustNewConstMetric(c.images, prometheus.GaugeValue, float64(c.counts.ByState[st]), string(st))
	}
	age := 0.0
	if !c.counts.OldestPending.IsZero() {
		age = max(now.Sub(c.counts.OldestPending).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
}
