package handlers

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the intake's Prometheus collectors. A nil *Metrics records
// nothing, so tests need not build one.
type Metrics struct {
	webhooks *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the intake collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scanbridge_webhooks_total",
			Help: "Webhook requests by receiver and result (accepted, ignored, handshake, duplicate_delivery, malformed, invalid, unauthorized, auth_unavailable, too_large, too_many_jobs, unavailable, unknown_receiver, busy, rate_limited).",
		}, []string{"receiver", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scanbridge_webhook_duration_seconds",
			Help:    "Time from request to answer, including the wait for the store.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"receiver"}),
	}
	reg.MustRegister(m.webhooks, m.duration)
	return m
}

func (m *Metrics) webhook(receiver, result string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(receiver, result).Inc()
}

func (m *Metrics) observe(receiver string, seconds float64) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(receiver).Observe(seconds)
}
