package scanner

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/hssclient"
)

// metrics records every HSS call for /metrics.
type metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	images   *prometheus.CounterVec
	wait     prometheus.Histogram
	reg      prometheus.Registerer
}

// newMetrics registers on reg; nil registers nothing (the collectors still
// count, for nobody).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scanbridge_hss_calls_total",
			Help: "HSS batch-scan calls by HTTP status and class."}, []string{"status", "class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "scanbridge_hss_call_duration_seconds",
			Help: "HSS batch-scan latency (HTTP exchange only).", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}, []string{"class"}),
		images: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scanbridge_hss_images_total",
			Help: "Images sent to HSS by call class."}, []string{"class"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "scanbridge_hss_rate_limit_wait_seconds",
			Help: "Time a call waited for a call slot and a rate-limit permit.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
	}
	m.reg = reg
	if reg != nil {
		reg.MustRegister(m.calls, m.duration, m.images, m.wait)
	}
	return m
}

// rate exports the limiter's current rate (it drops after a 429).
func (m *metrics) rate(f func() float64) {
	if m.reg != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "scanbridge_hss_rate_limit_per_minute",
			Help: "Calls per minute the HSS rate limiter allows now (the ceiling, or less after 429s)."}, f))
	}
}

// ObserveCall implements hssclient.Observer.
func (m *metrics) ObserveCall(c hssclient.Call) {
	class := strings.ToLower(c.Class.String())
	m.calls.WithLabelValues(fmt.Sprint(c.Status), class).Inc()
	m.duration.WithLabelValues(class).Observe(c.Duration.Seconds())
	m.images.WithLabelValues(class).Add(float64(c.Images))
}
