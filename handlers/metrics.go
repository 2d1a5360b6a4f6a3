package handlers

import (
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the intake's Prometheus collectors. A nil *Metrics records
// nothing, so tests need not build one.
type Metrics struct {
	webhooks    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	natsDropped droppedMessages
}

// droppedMessages reads the NATS intake subscription's drop count when
// scraped. It never goes down: a subscription that is gone (after
// shutdown) keeps its last count.
type droppedMessages struct {
	mu   sync.Mutex
	sub  *nats.Subscription
	seen int
}

func (d *droppedMessages) value() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sub != nil {
		if n, err := d.sub.Dropped(); err == nil && n > d.seen {
			d.seen = n
		}
	}
	return float64(d.seen)
}

// NewMetrics registers the intake collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	m.register(reg)
	return m
}

// newMetrics makes the intake collectors without registering them.
func newMetrics() *Metrics {
	return &Metrics{
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
}

// register adds m's collectors to reg.
func (m *Metrics) register(reg prometheus.Registerer) {
	dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "scanbridge_nats_intake_dropped_total",
		Help: "NATS intake messages dropped because nats.intake.max_pending_messages or max_pending_bytes was reached.",
	}, m.natsDropped.value)
	reg.MustRegister(m.webhooks, m.duration, dropped)
}

// watchNATSIntake makes the dropped-messages counter read sub.
func (m *Metrics) watchNATSIntake(sub *nats.Subscription) {
	if m == nil {
		return
	}
	m.natsDropped.mu.Lock()
	defer m.natsDropped.mu.Unlock()
	m.natsDropped.sub = sub
}

func (m *Metrics) webhook(receiver, result string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(receiver, result).Inc()
}

// receiverMetrics are one receiver's collectors for what every accepted
// request records, looked up once when the receiver is built (reload.go)
// rather than by label values on every request. The zero value records
// nothing.
type receiverMetrics struct {
	accepted prometheus.Counter
	duration prometheus.Observer
}

// forReceiver returns name's collectors.
func (m *Metrics) forReceiver(name string) receiverMetrics {
	if m == nil {
		return receiverMetrics{}
	}
	return receiverMetrics{accepted: m.webhooks.WithLabelValues(name, "accepted"), duration: m.duration.WithLabelValues(name)}
}

func (r receiverMetrics) accept() {
	if r.accepted != nil {
		r.accepted.Inc()
	}
}

func (r receiverMetrics) observe(seconds float64) {
	if r.duration != nil {
		r.duration.Observe(seconds)
	}
}
