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
	// health, when set (HSS.UseQuota), learns from every batch-scan
	// whether HSS accepts the bridge's credentials.
	health *AuthHealth
}

// newMetrics registers on reg; nil registers nothing (the collectors still
// count, for nobody).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scanbridge_hss_calls_total",
			Help: "HSS calls by API (batch-scan, swr-repository, synchronize, ...), result (ok, throttled, auth, rejected, failed), HTTP status and class."},
			[]string{"api", "result", "status", "class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "scanbridge_hss_call_duration_seconds",
			Help: "HSS scan call latency: batch-scan, or scan task with hss.api tasks (HTTP exchange only).", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}, []string{"class"}),
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

// ObserveCall implements hssclient.Observer: every call of every API
// counts in scanbridge_hss_calls_total and tells the AuthHealth whether
// HSS accepted the credentials; latency and images are the scan calls'
// (batch-scan, or a scan task with hss.api tasks).
func (m *metrics) ObserveCall(c hssclient.Call) {
	api := apiOf(c.API)
	m.call(api, callResult(c.Class, c.Status), c.Status, c.Class)
	if api == APIBatchScan || api == APIScanTasks {
		class := strings.ToLower(c.Class.String())
		m.duration.WithLabelValues(class).Observe(c.Duration.Seconds())
		m.images.WithLabelValues(class).Add(float64(c.Images))
	}
	if m.health != nil {
		m.health.observe(api, c.Class, c.Status)
	}
}

// call counts one call of api.
func (m *metrics) call(api API, result string, status int, class hssclient.Class) {
	m.calls.WithLabelValues(string(api), result, fmt.Sprint(status), strings.ToLower(class.String())).Inc()
}
