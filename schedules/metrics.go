package schedules

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the schedules' metrics. A nil *Metrics records nothing.
type Metrics struct {
	runs    *prometheus.CounterVec
	last    *prometheus.GaugeVec
	sentJob *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scanbridge_schedule_runs_total",
			Help: "Scheduled runs this replica made, by schedule and result (ok, failed; interrupted: cut off by a shutdown, run again by a catch-up; missed: a fire no run was made for)."},
			[]string{"schedule", "result"}),
		last: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scanbridge_schedule_last_run_timestamp_seconds",
			Help: "Fire time of the schedule's last successful run this replica knows of (take max() over replicas)."},
			[]string{"schedule"}),
		sentJob: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scanbridge_schedule_rescan_jobs_total",
			Help: "Jobs a rescan_older_than schedule sent again."}, []string{"schedule"}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.last, m.sentJob)
	}
	return m
}

// Init makes a schedule's series exist before its first run, so an
// alert on them has something to read.
func (m *Metrics) Init(schedule string) {
	if m == nil {
		return
	}
	for _, r := range []string{ResultOK, ResultFailed, ResultMissed} {
		m.runs.WithLabelValues(schedule, r)
	}
	m.sentJob.WithLabelValues(schedule)
}

func (m *Metrics) run(schedule, result string) {
	if m != nil {
		m.runs.WithLabelValues(schedule, result).Inc()
	}
}

func (m *Metrics) sent(schedule string) {
	if m != nil {
		m.sentJob.WithLabelValues(schedule).Inc()
	}
}

// lastRun sets the last-run gauge from a successful run (or one read
// from the bucket).
func (m *Metrics) lastRun(schedule string, lr LastRun) {
	if m == nil || lr.Result != ResultOK {
		return
	}
	m.last.WithLabelValues(schedule).Set(float64(lr.Fire.Unix()))
}
