package queue

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the queue's Prometheus collectors. A nil *Metrics records
// nothing, so tests and tools that do not export metrics pass nil.
type Metrics struct {
	published     prometheus.Counter
	duplicates    prometheus.Counter
	publishErrors prometheus.Counter
	batches       *prometheus.CounterVec
	images        *prometheus.CounterVec
	callItems     prometheus.Histogram
	collapsed     prometheus.Counter
	deadLetters   *prometheus.CounterVec
	acceptLatency prometheus.Histogram
	pending       prometheus.Gauge
	ackPending    prometheus.Gauge
	held          prometheus.Gauge
	// streamBytes and streamMaxBytes are the job stream's size and its
	// limit (stream info), so an alert can fire before a full stream
	// turns webhooks into 503s.
	streamBytes    prometheus.Gauge
	streamMaxBytes prometheus.Gauge
	// The accepted set (accepted.go).
	alreadyAccepted prometheus.Counter
	uncheckedJobs   prometheus.Counter
	recordErrors    prometheus.Counter
}

// Result label values of the batch and image counters.
const (
	resultAccepted = "accepted"
	resultRetry    = "retry"
	resultRejected = "rejected" // Permanent: split or dead-lettered
	resultCanceled = "canceled" // shutdown cut the call short
	// resultDeferred: the scanner deferred the items (Partial.Deferred),
	// e.g. until HSS knows the image; they come back after a delay. A
	// call whose every item was deferred or given up counts as deferred.
	resultDeferred = "deferred"
	// resultGivenUp: the scanner gave the items up (Partial.GivenUp);
	// they are dead-lettered with the reason it gave.
	resultGivenUp = "given_up"
)

// Reason label values of the dead-letter counter, and DeadLetter.Reason.
const (
	ReasonRejected  = "rejected"  // HSS refused the item alone
	ReasonMalformed = "malformed" // the message is not a valid job
	// ReasonUnknownTarget: the job names an HSS target none of the
	// bridge's receivers and routes produces (Targets); it was never sent.
	ReasonUnknownTarget = "unknown_target"
	// ReasonNotInSWR: HSS did not know the image (not in SWR, or not yet
	// synchronised into HSS) within the receiver's presence timeout; the
	// scanner gave it up (Partial.GivenUp). Redrive it once the image is
	// in SWR.
	ReasonNotInSWR = "not_in_swr"
	// ReasonScanTimeout: HSS accepted the scan but the image reached no
	// final scan status within the scan timeout; the watcher gives it up
	// (Queue.DeadLetterJob: its job message was acked already).
	ReasonScanTimeout = "scan_timeout"
)

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered). It panics if they are already registered there, like
// prometheus.MustRegister, because that is a wiring bug.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "scanbridge", "queue"
	m := &Metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "jobs_published_total", Help: "Jobs stored in the job stream (PubAck received), duplicates excluded."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "publish_duplicates_total", Help: "Jobs the stream dropped as duplicates of a job stored within the duplicate window."}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "publish_errors_total", Help: "Publishes that got no PubAck."}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "batches_total", Help: "HSS batch-scan calls by result (accepted, retry, rejected, canceled; deferred when the scanner deferred or gave up every item)."}, []string{"result"}),
		images: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "images_total", Help: "Items of HSS calls by what became of them: the call's result, or deferred / given_up when the scanner settled the item itself."}, []string{"result"}),
		callItems: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "call_items", Help: "Items per HSS batch-scan call.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, MaxImagesPerCall}}),
		collapsed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "collapsed_duplicates_total", Help: "Jobs that shared an item (same namespace, image, tag) with another job of the same call."}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "dead_letters_total", Help: "Records written to the dead-letter stream by reason (rejected, malformed, unknown_target, not_in_swr, scan_timeout)."}, []string{"reason"}),
		acceptLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "accept_latency_seconds", Help: "Time from a job's AcceptedAt (stored) to HSS accepting the call that carried it.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600}}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "consumer_pending", Help: "Jobs in the stream not yet delivered to the consumer (consumer info num_pending)."}),
		ackPending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "consumer_ack_pending", Help: "Jobs delivered and not yet acked or termed, all replicas, retries waiting included (num_ack_pending)."}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "consumer_held", Help: "Messages this replica holds in memory (grouped, waiting for a permit, in flight)."}),
		streamBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "stream_bytes", Help: "Bytes the job stream stores (stream info state.bytes, read every consumer.info_interval)."}),
		streamMaxBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "stream_max_bytes", Help: "The job stream's max_bytes (queue.stream.max_bytes); -1 when unlimited. When full, webhooks get 503."}),
		alreadyAccepted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "already_accepted_total", Help: "Delivered jobs acked without an HSS call because HSS accepted a job with the same id within the duplicate window (a retry the stream no longer recognised, e.g. after a NATS restart)."}),
		uncheckedJobs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "accepted_unchecked_total", Help: "Delivered jobs sent on without an accepted-set lookup, because it failed or is paused after a failure (at-least-once wins over dedupe)."}),
		recordErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "accepted_record_errors_total", Help: "Accepted HSS calls whose job ids could not all be recorded in the accepted set (their retries may be scanned again)."}),
	}
	for _, r := range []string{resultAccepted, resultRetry, resultRejected, resultCanceled, resultDeferred} {
		m.batches.WithLabelValues(r)
		m.images.WithLabelValues(r)
	}
	m.images.WithLabelValues(resultGivenUp)
	for _, r := range []string{ReasonRejected, ReasonMalformed, ReasonUnknownTarget, ReasonNotInSWR, ReasonScanTimeout} {
		m.deadLetters.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.published, m.duplicates, m.publishErrors, m.batches, m.images, m.callItems,
			m.collapsed, m.deadLetters, m.acceptLatency, m.pending, m.ackPending, m.held,
			m.streamBytes, m.streamMaxBytes,
			m.alreadyAccepted, m.uncheckedJobs, m.recordErrors)
	}
	return m
}

func (m *Metrics) publish(duplicate bool, err error) {
	switch {
	case m == nil:
	case err != nil:
		m.publishErrors.Inc()
	case duplicate:
		m.duplicates.Inc()
	default:
		m.published.Inc()
	}
}

func (m *Metrics) call(result string, items int) {
	if m == nil {
		return
	}
	m.batches.WithLabelValues(result).Inc()
	m.images.WithLabelValues(result).Add(float64(items))
}

// settledItems counts items the scanner settled itself (deferred, given
// up), apart from the call's result.
func (m *Metrics) settledItems(result string, items int) {
	if m != nil && items > 0 {
		m.images.WithLabelValues(result).Add(float64(items))
	}
}

// deferredCall counts a call none of whose items remained for HSS's
// answer: all deferred or given up.
func (m *Metrics) deferredCall() {
	if m != nil {
		m.batches.WithLabelValues(resultDeferred).Inc()
	}
}

func (m *Metrics) packed(items, collapsed int) {
	if m == nil {
		return
	}
	m.callItems.Observe(float64(items))
	m.collapsed.Add(float64(collapsed))
}

func (m *Metrics) deadLetter(reason string) {
	if m != nil {
		m.deadLetters.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) accepted(since time.Duration) {
	if m != nil {
		m.acceptLatency.Observe(since.Seconds())
	}
}

func (m *Metrics) consumerInfo(pending uint64, ackPending int) {
	if m != nil {
		m.pending.Set(float64(pending))
		m.ackPending.Set(float64(ackPending))
	}
}

// streamInfo sets the stream fill gauges from one stream info read.
func (m *Metrics) streamInfo(bytes uint64, maxBytes int64) {
	if m != nil {
		m.streamBytes.Set(float64(bytes))
		m.streamMaxBytes.Set(float64(maxBytes))
	}
}

func (m *Metrics) setHeld(n int64) {
	if m != nil {
		m.held.Set(float64(n))
	}
}

func (m *Metrics) acceptedBefore() {
	if m != nil {
		m.alreadyAccepted.Inc()
	}
}

func (m *Metrics) unchecked(n int) {
	if m != nil {
		m.uncheckedJobs.Add(float64(n))
	}
}

func (m *Metrics) recordFailed() {
	if m != nil {
		m.recordErrors.Inc()
	}
}
