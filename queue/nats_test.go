package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// patience bounds every wait in these tests. It only ends a hung test:
// each wait is for something that takes milliseconds.
const patience = 20 * time.Second

// natsConfig keeps the real shape with small numbers and short timers.
func natsConfig() Config {
	return Config{Consumer: ConsumerConfig{
		MaxItems: 10, MaxItemsPerCall: 25, Linger: 20 * time.Millisecond, Heartbeat: time.Second,
		BackoffBase: 10 * time.Millisecond, BackoffCap: 50 * time.Millisecond, InfoInterval: 50 * time.Millisecond,
	}}
}

func openQueue(t testing.TB, js jetstream.JetStream, cfg Config, m *Metrics) *Queue {
	t.Helper()
	q, err := Open(t.Context(), js, cfg, nil, m)
	if err != nil {
		t.Fatalf("open queue: %v", err)
	}
	return q
}

// runConsumer starts a consumer and stops it gracefully at cleanup (or
// earlier through the returned stop).
func runConsumer(t *testing.T, q *Queue, s Scanner) (c *Consumer, stop func(ctx context.Context) error) {
	t.Helper()
	c = q.NewConsumer(s, testTargets)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	var once sync.Once
	var stopErr error
	stop = func(ctx context.Context) error {
		once.Do(func() {
			stopErr = c.Shutdown(ctx)
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("shutdown: %v", err)
		}
	})
	return c, stop
}

// sink records accepted items and closes full once want distinct jobs were
// accepted.
type sink struct {
	mu       sync.Mutex
	accepted map[string]int // job ID → times accepted
	want     int
	full     chan struct{}
	closed   bool
}

func newSink(want int) *sink {
	return &sink{accepted: map[string]int{}, want: want, full: make(chan struct{})}
}

func (k *sink) add(items []scanjob.Job) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, j := range items {
		k.accepted[j.ID()]++
	}
	if len(k.accepted) >= k.want && !k.closed {
		k.closed = true
		close(k.full)
	}
}

func (k *sink) wait(t *testing.T) {
	t.Helper()
	select {
	case <-k.full:
	case <-time.After(patience):
		k.mu.Lock()
		defer k.mu.Unlock()
		t.Fatalf("%d of %d jobs accepted", len(k.accepted), k.want)
	}
}

func (k *sink) count(id string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.accepted[id]
}

func streamMsgs(t *testing.T, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return info.State.Msgs
}

func publishAll(t *testing.T, q *Queue, jobs []scanjob.Job) {
	t.Helper()
	for _, j := range jobs {
		if _, err := q.Publish(t.Context(), j); err != nil {
			t.Fatalf("publish %s: %v", j.Ref(), err)
		}
	}
}

func TestOpenIsIdempotentAndAppliesChangedSettings(t *testing.T) {
	js := natstest.Start(t).JetStream()
	cfg := natsConfig()
	openQueue(t, js, cfg, nil)
	openQueue(t, js, cfg, nil)

	cfg.Consumer.Heartbeat = 2 * time.Second
	cfg.Stream.MaxAge = 48 * time.Hour
	q := openQueue(t, js, cfg, nil)

	info, err := q.consumer.Info(t.Context())
	if err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	if info.Config.AckWait != 6*time.Second || info.Config.MaxDeliver != -1 || info.Config.MaxAckPending != cfg.WithDefaults().Consumer.MaxAckPending() {
		t.Errorf("consumer config not updated: ack wait %s, max deliver %d, max ack pending %d",
			info.Config.AckWait, info.Config.MaxDeliver, info.Config.MaxAckPending)
	}
	sinfo, err := q.stream.Info(t.Context())
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if sinfo.Config.MaxAge != 48*time.Hour || sinfo.Config.Retention != jetstream.WorkQueuePolicy {
		t.Errorf("stream config: max age %s, retention %s", sinfo.Config.MaxAge, sinfo.Config.Retention)
	}
	names := js.StreamNames(t.Context())
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	slices.Sort(got)
	if want := []string{"KV_SCANJOBS_ACCEPTED", "SCANJOBS", "SCANJOBS_DLQ"}; !slices.Equal(got, want) {
		t.Errorf("streams %v, want %v", got, want)
	}
	kv, err := js.KeyValue(t.Context(), DefaultAcceptedBucket)
	if err != nil {
		t.Fatalf("accepted bucket: %v", err)
	}
	kst, err := kv.Status(t.Context())
	if err != nil {
		t.Fatalf("accepted bucket status: %v", err)
	}
	if kst.TTL() != DefaultDuplicates || kst.History() != 1 {
		t.Errorf("accepted bucket: ttl %s, history %d; want the duplicate window %s and 1", kst.TTL(), kst.History(), DefaultDuplicates)
	}

	cfg.Consumer.MaxItems = -1
	if _, err := Open(t.Context(), js, cfg, nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Open with an invalid config = %v, want ErrInvalidConfig", err)
	}
}

func TestAConsumerShutDownBeforeRunDoesNotStart(t *testing.T) {
	q := openQueue(t, natstest.Start(t).JetStream(), natsConfig(), nil)
	c := q.NewConsumer(&fakeScanner{}, testTargets)
	if err := c.Shutdown(t.Context()); err != nil {
		t.Fatalf("shutdown before run: %v", err)
	}
	if err := c.Run(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("run after shutdown = %v, want ErrClosed", err)
	}
}

func TestPublishStoresARetriedJobOnce(t *testing.T) {
	js := natstest.Start(t).JetStream()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	q := openQueue(t, js, natsConfig(), m)
	job := testJob(targetA, "team.prod", "api", "1.0")
	job.PushedAt = time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC) // the sender's push time, repeated on a retry
	firstID := job.ID()

	first, err := q.Publish(t.Context(), job)
	if err != nil || first.Duplicate || first.Stream != "SCANJOBS" || first.Seq != 1 {
		t.Fatalf("first publish = %+v, %v", first, err)
	}
	job.EventID = "second-delivery" // a registry retry: new delivery id, same push time, same job
	second, err := q.Publish(t.Context(), job)
	if err != nil || !second.Duplicate || second.Seq != first.Seq {
		t.Fatalf("second publish = %+v, %v; want a duplicate of seq %d", second, err, first.Seq)
	}
	job.Digest = "sha256:new" // a re-push of the tag is a new job
	third, err := q.Publish(t.Context(), job)
	if err != nil || third.Duplicate {
		t.Fatalf("re-push publish = %+v, %v", third, err)
	}
	if n := streamMsgs(t, q.stream); n != 2 {
		t.Errorf("stream holds %d messages, want 2", n)
	}
	raw, err := q.stream.GetMsg(t.Context(), first.Seq)
	if err != nil {
		t.Fatalf("get msg: %v", err)
	}
	if raw.Subject != "scanjobs.private_image.team%2Eprod" || raw.Header.Get(jetstream.MsgIDHeader) != firstID {
		t.Errorf("stored on %q with id %q", raw.Subject, raw.Header.Get(jetstream.MsgIDHeader))
	}
	if got := testutil.ToFloat64(m.published); got != 2 {
		t.Errorf("jobs_published_total = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.duplicates); got != 1 {
		t.Errorf("publish_duplicates_total = %v, want 1", got)
	}
	if _, err := q.Publish(t.Context(), scanjob.Job{Image: "x"}); !errors.Is(err, ErrInvalidJob) {
		t.Errorf("publish without namespace = %v, want ErrInvalidJob", err)
	}
}

func TestJobsFlowFromPublisherThroughConsumerToScanner(t *testing.T) {
	js := natstest.Start(t).JetStream()
	m := NewMetrics(prometheus.NewRegistry())
	cfg := natsConfig()
	q := openQueue(t, js, cfg, m)

	var jobs []scanjob.Job
	namespaces := []string{"alpha", "beta.team", "gamma.gamma", "delta__d"}
	for i := range 60 {
		target := []scanjob.Target{targetA, targetB}[i%2]
		jobs = append(jobs, testJob(target, namespaces[i%len(namespaces)], "app", fmt.Sprint(i)))
	}
	k := newSink(len(jobs))
	s := &fakeScanner{scan: func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
		k.add(items)
		return nil
	}}
	publishAll(t, q, jobs)
	runConsumer(t, q, s)
	k.wait(t)

	total := 0
	for i, c := range s.recorded() {
		total += len(c.items)
		if len(c.items) > cfg.Consumer.MaxItemsPerCall {
			t.Errorf("call %d has %d items, over %d", i, len(c.items), cfg.Consumer.MaxItemsPerCall)
		}
		for _, j := range c.items {
			if j.Target != c.target {
				t.Errorf("call %d for %s carries %s of %s", i, c.target.Key(), j.Ref(), j.Target.Key())
			}
		}
	}
	for _, j := range jobs {
		if n := k.count(j.ID()); n != 1 {
			t.Errorf("%s of %s accepted %d times, want once", j.Ref(), j.Target.Key(), n)
		}
	}
	if total != len(jobs) {
		t.Errorf("%d items sent in all calls, want %d", total, len(jobs))
	}
	natstest.Eventually(t, patience, "the work queue to empty after the acks", func() bool { return streamMsgs(t, q.stream) == 0 })
	natstest.Eventually(t, patience, "the pending gauges to read zero", func() bool {
		return testutil.ToFloat64(m.ackPending) == 0 && testutil.ToFloat64(m.pending) == 0
	})
	if got := testutil.ToFloat64(m.images.WithLabelValues(resultAccepted)); got != 60 {
		t.Errorf("images_total{result=accepted} = %v, want 60", got)
	}
	if got := testutil.CollectAndCount(m.acceptLatency); got != 1 {
		t.Errorf("accept latency histogram not collected")
	}
}

func TestAConsumerStoppedMidwayLosesNothing(t *testing.T) {
	js := natstest.Start(t).JetStream()
	cfg := natsConfig()
	// Only full groups leave the first consumer, one group per call, so
	// its calls are exactly 10, 10, 10 (and 5 jobs linger). That is the
	// ready packing: quota packing would take the lingering jobs along.
	cfg.Consumer.Linger = time.Hour
	cfg.Consumer.MaxItemsPerCall = cfg.Consumer.MaxItems
	cfg.Consumer.Packing = PackReady
	q1 := openQueue(t, js, cfg, nil)
	var jobs []scanjob.Job
	for i := range 35 {
		jobs = append(jobs, testJob(targetA, "team", "app", fmt.Sprint(i)))
	}
	publishAll(t, q1, jobs)

	// The first consumer accepts two calls, then hangs in the third until
	// it is cancelled; five jobs linger in a partial group.
	first := newSink(20)
	blocked := make(chan []scanjob.Job, 1)
	var calls int
	var mu sync.Mutex
	s1 := &fakeScanner{scan: func(ctx context.Context, _ scanjob.Target, items []scanjob.Job) error {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n <= 2 {
			first.add(items)
			return nil
		}
		blocked <- items
		<-ctx.Done()
		return ctx.Err()
	}}
	_, stop := runConsumer(t, q1, s1)
	inFlight := <-blocked
	first.wait(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel() // no grace: cancel the call in flight at once
	if err := stop(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("shutdown with a cancelled context = %v, want context.Canceled", err)
	}

	// A new consumer on the same durable gets everything not accepted.
	cfg.Consumer.Linger = 20 * time.Millisecond
	cfg.Consumer.Packing = PackQuota
	q2 := openQueue(t, js, cfg, nil)
	second := newSink(len(jobs) - 20)
	runConsumer(t, q2, &fakeScanner{scan: func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
		second.add(items)
		return nil
	}})
	second.wait(t)
	for _, j := range jobs {
		if got := first.count(j.ID()) + second.count(j.ID()); got != 1 {
			t.Errorf("%s accepted %d times across both consumers, want once", j.Ref(), got)
		}
	}
	for _, j := range inFlight {
		if second.count(j.ID()) != 1 {
			t.Errorf("%s of the cancelled call was not redelivered", j.Ref())
		}
	}
	natstest.Eventually(t, patience, "the work queue to empty", func() bool { return streamMsgs(t, q2.stream) == 0 })
}

func TestAGracefulShutdownHandsUnsentJobsToTheNextConsumer(t *testing.T) {
	js := natstest.Start(t).JetStream()
	cfg := natsConfig()
	cfg.Consumer.Linger = time.Hour // the first consumer never sends
	q1 := openQueue(t, js, cfg, nil)
	var jobs []scanjob.Job
	for i := range 5 {
		jobs = append(jobs, testJob(targetA, "team", "app", fmt.Sprint(i)))
	}
	publishAll(t, q1, jobs)
	s1 := &fakeScanner{}
	c1, stop := runConsumer(t, q1, s1)
	natstest.Eventually(t, patience, "the first consumer to hold every job", func() bool { return c1.b.held.Load() == 5 })
	if err := stop(t.Context()); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	if n := len(s1.recorded()); n != 0 {
		t.Fatalf("the stopped consumer made %d calls", n)
	}

	cfg.Consumer.Linger = 20 * time.Millisecond
	k := newSink(len(jobs))
	runConsumer(t, openQueue(t, js, cfg, nil), &fakeScanner{scan: func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
		k.add(items)
		return nil
	}})
	k.wait(t)
}

func TestRetriedJobsAreDeliveredOnceHSSRecovers(t *testing.T) {
	js := natstest.Start(t).JetStream()
	q := openQueue(t, js, natsConfig(), nil)
	var jobs []scanjob.Job
	for i := range 5 {
		jobs = append(jobs, testJob(targetA, "team", "app", fmt.Sprint(i)))
	}
	k := newSink(len(jobs))
	var mu sync.Mutex
	failures := 0
	s := &fakeScanner{scan: func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
		mu.Lock()
		defer mu.Unlock()
		if failures < 4 {
			failures++
			return &verdictError{Verdict{Class: Retry, Status: 503}}
		}
		k.add(items)
		return nil
	}}
	publishAll(t, q, jobs)
	runConsumer(t, q, s)
	k.wait(t)
	mu.Lock()
	if failures != 4 {
		t.Errorf("%d failed calls before success, want 4", failures)
	}
	mu.Unlock()
	natstest.Eventually(t, patience, "the work queue to empty", func() bool { return streamMsgs(t, q.stream) == 0 })
}

func TestRejectedAndMalformedJobsLandInTheDeadLetterStream(t *testing.T) {
	js := natstest.Start(t).JetStream()
	m := NewMetrics(prometheus.NewRegistry())
	q := openQueue(t, js, natsConfig(), m)
	var mu sync.Mutex
	rejecting := true
	good := newSink(4)
	s := &fakeScanner{scan: func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
		mu.Lock()
		defer mu.Unlock()
		for _, j := range items {
			if j.Image == "bad" && rejecting {
				return &verdictError{Verdict{Class: Permanent, Status: 400, Code: "HSS.1001",
					Message: "invalid image_version", RequestID: "req-7"}}
			}
		}
		good.add(items)
		return nil
	}}
	jobs := []scanjob.Job{
		testJob(targetA, "team", "a", "1"), testJob(targetA, "team", "b", "1"),
		testJob(targetA, "team", "bad", "1"), testJob(targetA, "team", "c", "1"),
		testJob(targetA, "other.ns", "d", "1"),
	}
	publishAll(t, q, jobs)
	if _, err := js.Publish(t.Context(), "scanjobs.private_image.junk", []byte("{oops")); err != nil {
		t.Fatalf("publish junk: %v", err)
	}
	runConsumer(t, q, s)
	good.wait(t)
	natstest.Eventually(t, patience, "two dead letters", func() bool { return streamMsgs(t, q.dlq) == 2 })
	natstest.Eventually(t, patience, "the work queue to empty", func() bool { return streamMsgs(t, q.stream) == 0 })

	dl := q.DeadLetters()
	all, err := dl.List(t.Context(), Filter{})
	if err != nil || len(all) != 2 {
		t.Fatalf("List = %d records, %v; want 2", len(all), err)
	}
	var rejected, malformed DeadLetter
	for _, r := range all {
		switch r.Reason {
		case ReasonRejected:
			rejected = r
		case ReasonMalformed:
			malformed = r
		}
	}
	bad := jobs[2]
	if rejected.Job == nil || rejected.Job.ID() != bad.ID() || rejected.Class != "permanent" || rejected.Status != 400 ||
		rejected.ErrorCode != "HSS.1001" || rejected.ErrorMsg != "invalid image_version" || rejected.RequestID != "req-7" ||
		rejected.Attempts != 1 || rejected.MsgID != bad.ID() || rejected.StreamSeq != 3 ||
		!rejected.FirstSeen.Equal(bad.AcceptedAt) || rejected.FailedAt.IsZero() {
		t.Errorf("rejected record = %+v", rejected)
	}
	if malformed.Job != nil || string(malformed.Raw) != "{oops" || malformed.Error == "" || malformed.Subject != "scanjobs.private_image.junk" {
		t.Errorf("malformed record = %+v", malformed)
	}
	got, err := dl.Get(t.Context(), rejected.Seq)
	if err != nil || got.Job == nil || got.Job.ID() != bad.ID() || got.Seq != rejected.Seq {
		t.Errorf("Get(%d) = %+v, %v", rejected.Seq, got, err)
	}
	if _, err := dl.Get(t.Context(), 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(999) = %v, want ErrNotFound", err)
	}
	if got := testutil.ToFloat64(m.deadLetters.WithLabelValues(ReasonRejected)); got != 1 {
		t.Errorf("dead_letters_total{reason=rejected} = %v, want 1", got)
	}

	filters := []struct {
		name string
		f    Filter
		want int
	}{
		{"by namespace", Filter{Namespace: "team"}, 1},
		{"by a namespace with no dead letters", Filter{Namespace: "other.ns"}, 0},
		{"by error code", Filter{ErrorCode: "HSS.1001"}, 1},
		{"by reason", Filter{Reason: ReasonRejected}, 1},
		{"by a reason no record has", Filter{Reason: "not_in_swr"}, 0},
		{"older than an hour", Filter{OlderThan: time.Hour}, 0},
		{"limited to one", Filter{Limit: 1}, 1},
	}
	for _, tt := range filters {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := dl.List(t.Context(), tt.f)
			if err != nil || len(recs) != tt.want {
				t.Errorf("List(%+v) = %d records, %v; want %d", tt.f, len(recs), err, tt.want)
			}
		})
	}

	dry, err := dl.Redrive(t.Context(), Filter{}, true)
	if err != nil || len(dry.Redriven) != 1 || !slices.Equal(dry.Skipped, []uint64{malformed.Seq}) || streamMsgs(t, q.dlq) != 2 {
		t.Fatalf("dry-run redrive = %+v, %v", dry, err)
	}
	mu.Lock()
	rejecting = false // the operator fixed the cause
	mu.Unlock()
	good.mu.Lock()
	good.want, good.full, good.closed = 5, make(chan struct{}), false
	good.mu.Unlock()
	rep, err := dl.Redrive(t.Context(), Filter{ErrorCode: "HSS.1001"}, false)
	if err != nil || len(rep.Redriven) != 1 || rep.Redriven[0].MsgID != fmt.Sprintf("%s-redrive-%d", bad.ID(), rejected.Seq) {
		t.Fatalf("redrive = %+v, %v", rep, err)
	}
	good.wait(t)

	purged, err := dl.Purge(t.Context(), Filter{}, false)
	if err != nil || !slices.Equal(purged, []uint64{malformed.Seq}) {
		t.Errorf("purge = %v, %v; want the malformed record", purged, err)
	}
	if n := streamMsgs(t, q.dlq); n != 0 {
		t.Errorf("dead-letter stream holds %d records after redrive and purge", n)
	}
}

// TestStreamFillGauges: the stream's bytes and its max_bytes reach the
// gauges the "stream near max bytes" alert divides, while HSS refuses
// every call and the jobs stay in the stream.
func TestStreamFillGauges(t *testing.T) {
	js := natstest.Start(t).JetStream()
	m := NewMetrics(prometheus.NewRegistry())
	cfg := natsConfig()
	cfg.Stream.MaxBytes = 1 << 20
	q := openQueue(t, js, cfg, m)
	var jobs []scanjob.Job
	for i := range 5 {
		jobs = append(jobs, testJob(targetA, "team", "app", fmt.Sprint(i)))
	}
	publishAll(t, q, jobs)
	info, err := q.stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeScanner{scan: func(context.Context, scanjob.Target, []scanjob.Job) error {
		return &verdictError{Verdict{Class: Retry, Status: 503}}
	}}
	runConsumer(t, q, s)
	natstest.Eventually(t, patience, "the stream fill gauges", func() bool {
		return testutil.ToFloat64(m.streamBytes) == float64(info.State.Bytes) && testutil.ToFloat64(m.streamMaxBytes) == 1<<20
	})
}

// TestAPushOvertakesASweepBacklogInTheStream: a push stored behind 10,000
// sweep jobs reaches the batcher at once, through its own durable, and
// goes in the next call, while the sweep fills the room the push leaves.
func TestAPushOvertakesASweepBacklogInTheStream(t *testing.T) {
	js := natstest.Start(t).JetStream()
	cfg := natsConfig()
	cfg.Consumer.MaxItems, cfg.Consumer.MaxItemsPerCall = 100, 1000
	cfg.Consumer.MaxHeld = 1000 // one call's worth: the held count below is exact
	q := openQueue(t, js, cfg, nil)

	sweep := make([]scanjob.Job, 10000)
	for i := range sweep {
		sweep[i] = testJob(targetA, "bulk", "app", fmt.Sprint(i))
		sweep[i].Lane = scanjob.LaneSweep
	}
	publishAll(t, q, sweep)
	s := &fakeScanner{gate: make(chan struct{})}
	c, _ := runConsumer(t, q, s)
	natstest.Eventually(t, patience, "a call's worth of the sweep to be held", func() bool { return c.b.held.Load() == 1000 })

	push := testJob(targetA, "fresh", "app", "1")
	publishAll(t, q, []scanjob.Job{push})
	natstest.Eventually(t, patience, "the push to be held beside the sweep", func() bool { return c.b.held.Load() == 1001 })
	s.gate <- struct{}{}
	natstest.Eventually(t, patience, "the first call", func() bool { return len(s.recorded()) == 1 })
	call := s.recorded()[0]
	if len(call.items) != 1000 || call.items[0].ID() != push.ID() || call.items[0].Lane.Background() {
		t.Fatalf("first call: %d items, first %s in lane %q; want the push first and 999 of the sweep",
			len(call.items), call.items[0].Ref(), call.items[0].Lane)
	}
	for _, j := range call.items[1:] {
		if j.Lane != scanjob.LaneSweep {
			t.Fatalf("call carries %s in lane %q, want the sweep's", j.Ref(), j.Lane)
		}
	}
}

// TestOpenNarrowsAnOlderBridgesDurable: a bridge from before lanes left a
// durable on every subject, with a job waiting on it; Open narrows it to
// the push subjects, adds the background durable beside it (a WorkQueue
// stream refuses overlapping consumers), and the waiting job is scanned.
func TestOpenNarrowsAnOlderBridgesDurable(t *testing.T) {
	js := natstest.Start(t).JetStream()
	cfg := natsConfig().WithDefaults()
	stream, err := js.CreateOrUpdateStream(t.Context(), cfg.Stream.jetstream())
	if err != nil {
		t.Fatal(err)
	}
	old := cfg.jetstreamConsumer()
	old.FilterSubject = cfg.Stream.SubjectPrefix + ".>"
	if _, err := stream.CreateOrUpdateConsumer(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	waiting := testJob(targetA, "team", "app", "old")
	data, err := json.Marshal(waiting)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), cfg.Stream.SubjectPrefix+".private_image.team", data); err != nil {
		t.Fatal(err)
	}

	q := openQueue(t, js, cfg, nil)
	for _, want := range []struct{ durable, filter string }{
		{cfg.Consumer.Durable, "scanjobs.*.*"}, {cfg.Consumer.BackgroundDurable(), "scanjobs.*.*.*"},
	} {
		cons, err := stream.Consumer(t.Context(), want.durable)
		if err != nil {
			t.Fatalf("consumer %s: %v", want.durable, err)
		}
		if got := cons.CachedInfo().Config.FilterSubject; got != want.filter {
			t.Errorf("consumer %s filters %q, want %q", want.durable, got, want.filter)
		}
	}
	redrive := testJob(targetA, "team", "app", "redriven")
	redrive.Lane = scanjob.LaneRedrive
	publishAll(t, q, []scanjob.Job{redrive})
	k := newSink(2)
	runConsumer(t, q, &fakeScanner{scan: func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
		k.add(items)
		return nil
	}})
	k.wait(t)
	if k.count(waiting.ID()) != 1 || k.count(redrive.ID()) != 1 {
		t.Errorf("the older bridge's job scanned %d times, the redriven one %d, want once each", k.count(waiting.ID()), k.count(redrive.ID()))
	}
}
