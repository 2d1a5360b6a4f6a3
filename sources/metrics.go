package sources

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the sources' metrics.
type Metrics struct {
	rounds      *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	found       *prometheus.CounterVec
	jobs        *prometheus.CounterVec
	interval    *prometheus.GaugeVec
}

// NewMetrics registers the sources' metrics on reg (nil: unregistered,
// for tests and one-off commands).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scanbridge_source_rounds_total",
			Help: "Rounds of each source by result: ok, partial (stopped at a limit, or some repositories failed; the next round goes on), error."},
			[]string{"source", "result"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scanbridge_source_last_success_timestamp_seconds",
			Help: "When the last round of each source that was not an error finished (Unix seconds); alert when it is older than a few intervals."},
			[]string{"source"}),
		found: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scanbridge_sweep_found_total",
			Help: "Images a sweep source enqueued that its receiver's webhook never announced (no job in the duplicate window, no lifecycle record): webhook loss."},
			[]string{"source"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scanbridge_source_jobs_total",
			Help: "New or changed tags a source found, by outcome: enqueued, duplicate (already stored), skipped (not an image, or dropped by a route), invalid, failed (not stored; retried next round)."},
			[]string{"source", "result"}),
		interval: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scanbridge_source_interval_seconds",
			Help: "Each source's schedule.every, so that an alert can say \"no good round in three intervals\" per source."},
			[]string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.rounds, m.lastSuccess, m.found, m.jobs, m.interval)
	}
	return m
}

// Init makes a source's series exist at zero, so an alert or a panel on
// an increase works from its first round.
func (m *Metrics) Init(source string) {
	m.found.WithLabelValues(source)
	m.jobs.WithLabelValues(source, "enqueued")
	for _, r := range []string{ResultOK, ResultPartial, ResultError} {
		m.rounds.WithLabelValues(source, r)
	}
}

func (m *Metrics) every(source string, d time.Duration) {
	m.interval.WithLabelValues(source).Set(d.Seconds())
}
func (m *Metrics) round(source, result string) { m.rounds.WithLabelValues(source, result).Inc() }
func (m *Metrics) success(source string, t time.Time) {
	m.lastSuccess.WithLabelValues(source).Set(float64(t.UnixNano()) / 1e9)
}
func (m *Metrics) foundOne(source string)    { m.found.WithLabelValues(source).Inc() }
func (m *Metrics) job(source, result string) { m.jobs.WithLabelValues(source, result).Inc() }
