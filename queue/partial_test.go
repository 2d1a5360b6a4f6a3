package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// partialBy answers every call with a Partial built from the items' image
// names: "wait*" deferred by delay, "gone*" given up not_in_swr, the rest
// settled by rest (nil: accepted).
func partialBy(delay time.Duration, rest func(items []scanjob.Job) error) func(context.Context, scanjob.Target, []scanjob.Job) error {
	return func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
		p := &Partial{Deferred: map[string]Deferral{}, GivenUp: map[string]GiveUp{}}
		var others []scanjob.Job
		for _, j := range items {
			switch {
			case strings.HasPrefix(j.Image, "wait"):
				p.Deferred[j.ItemKey()] = Deferral{Delay: delay, Reason: "waiting_presence"}
			case strings.HasPrefix(j.Image, "gone"):
				p.GivenUp[j.ItemKey()] = GiveUp{Reason: ReasonNotInSWR,
					Verdict: Verdict{Class: Permanent, Status: 400, Code: "HSS.0011"}, Message: "not in SWR after 30m"}
			default:
				others = append(others, j)
			}
		}
		if len(others) > 0 && rest != nil {
			p.Err = rest(others)
		}
		if len(p.Deferred) == 0 && len(p.GivenUp) == 0 {
			return p.Err
		}
		return fmt.Errorf("scan: %w", p) // wrapped: finish must still find it
	}
}

func TestBatcherSettlesAPartialCallItemByItem(t *testing.T) {
	rejected := Verdict{Class: Permanent, Status: 400, Code: "HSS.1001"}
	tests := []struct {
		name     string
		images   []string
		rest     func([]scanjob.Job) error
		want     map[string]string // image → outcome
		sizes    []int             // call sizes, sorted
		recorded []string          // images recorded as accepted
		dead     map[string]string // image → dead-letter reason
	}{
		{
			name:   "deferred, given up and accepted in one call",
			images: []string{"a", "wait1", "gone1", "b", "wait2"},
			want: map[string]string{"a": "ack", "b": "ack", "wait1": "nak-delay", "wait2": "nak-delay",
				"gone1": "term"},
			sizes: []int{5}, recorded: []string{"a", "b"}, dead: map[string]string{"gone1": ReasonNotInSWR},
		},
		{
			name:   "every item deferred: no retry, no bisection",
			images: []string{"wait1", "wait2", "wait3"},
			want:   map[string]string{"wait1": "nak-delay", "wait2": "nak-delay", "wait3": "nak-delay"},
			sizes:  []int{3},
		},
		{
			name:   "the rest retried by its own outcome",
			images: []string{"a", "wait1", "b"},
			rest:   func([]scanjob.Job) error { return &verdictError{Verdict{Class: Retry, Status: 503}} },
			want:   map[string]string{"a": "nak-delay", "b": "nak-delay", "wait1": "nak-delay"},
			sizes:  []int{3},
		},
		{
			name:   "only the rest is bisected when it is rejected",
			images: []string{"a", "wait1", "bad", "gone1"},
			rest: func(items []scanjob.Job) error {
				for _, j := range items {
					if j.Image == "bad" {
						return &verdictError{rejected}
					}
				}
				return nil
			},
			want: map[string]string{"a": "ack", "bad": "term", "wait1": "nak-delay", "gone1": "term"},
			// 4 → the rest (a, bad) → 1 + 1: the deferred and given-up
			// items are in the first call only.
			sizes: []int{1, 1, 4}, recorded: []string{"a"},
			dead: map[string]string{"bad": ReasonRejected, "gone1": ReasonNotInSWR},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const delay = 42 * time.Second
				s := &fakeScanner{scan: partialBy(delay, tt.rest)}
				cfg := testConfig()
				cfg.MaxItems, cfg.MaxItemsPerCall = len(tt.images), len(tt.images) // one full call, sent at once
				h := startBatcher(t, cfg, s)
				msgs := map[string]*fakeMsg{}
				for _, img := range tt.images {
					msgs[img] = h.send(testJob(targetA, "team", img, "1"))
				}
				synctest.Wait()

				for img, want := range tt.want {
					wantOutcome(t, want, msgs[img])
					if strings.HasPrefix(img, "wait") {
						if d := msgs[img].delays; len(d) != 1 || d[0] != delay {
							t.Errorf("%s nakked with %v, want the scanner's delay %s", img, d, delay)
						}
					}
				}
				var sizes []int
				for _, c := range s.recorded() {
					sizes = append(sizes, len(c.items))
				}
				slices.Sort(sizes)
				if !slices.Equal(sizes, tt.sizes) {
					t.Errorf("call sizes %v, want %v", sizes, tt.sizes)
				}
				var wantIDs []string
				for _, img := range tt.recorded {
					wantIDs = append(wantIDs, msgs[img].d.MsgID)
				}
				slices.Sort(wantIDs)
				if got := h.accepted.recorded(); !slices.Equal(got, wantIDs) {
					t.Errorf("accepted set got %v, want only %v (%v)", got, wantIDs, tt.recorded)
				}
				recs := h.dlq.all()
				if len(recs) != len(tt.dead) {
					t.Errorf("%d dead letters, want %d", len(recs), len(tt.dead))
				}
				for _, r := range recs {
					if r.Job == nil || tt.dead[r.Job.Image] != r.Reason {
						t.Errorf("dead letter %+v: want reason %q", r, tt.dead[r.Job.Image])
					}
					if r.Reason == ReasonNotInSWR && (r.ErrorCode != "HSS.0011" || r.Error != "not in SWR after 30m") {
						t.Errorf("not_in_swr record = %+v, want the scanner's verdict and message", r)
					}
				}
				if g := msgs["gone1"]; g != nil && !strings.Contains(g.termReason, "presence timeout") {
					t.Errorf("term reason %q", g.termReason)
				}
			})
		})
	}
}

func TestBatcherDefersEveryMessageOfACollapsedItem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{scan: partialBy(time.Minute, nil)}
		cfg := testConfig()
		cfg.MaxItems, cfg.MaxItemsPerCall = 2, 2
		h := startBatcher(t, cfg, s)
		j := testJob(targetA, "team", "wait", "1")
		digest := j
		digest.Digest = "sha256:" + strings.Repeat("a", 64) // another job id, same item
		m1, m2 := h.send(j), h.send(digest)
		h.send(testJob(targetA, "team", "x", "1"))
		synctest.Wait()
		wantOutcome(t, "nak-delay", m1, m2)
	})
}

// TestDeferredJobsComeBackAfterTheirDelay runs the real consumer: deferred
// jobs are delivered again after the delay and scanned then, given-up jobs
// are in the dead-letter stream, and no call is bisected.
func TestDeferredJobsComeBackAfterTheirDelay(t *testing.T) {
	js := natstest.Start(t).JetStream()
	m := NewMetrics(prometheus.NewRegistry())
	q := openQueue(t, js, natsConfig(), m)
	const delay = 300 * time.Millisecond

	var mu sync.Mutex
	firstSeen := map[string]time.Time{}
	var calls [][]string
	k := newSink(3)
	s := &fakeScanner{scan: func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
		mu.Lock()
		defer mu.Unlock()
		var names []string
		p := &Partial{Deferred: map[string]Deferral{}, GivenUp: map[string]GiveUp{}}
		var ok []scanjob.Job
		for _, j := range items {
			names = append(names, j.Image)
			if _, seen := firstSeen[j.Image]; !seen {
				firstSeen[j.Image] = time.Now()
			}
			switch {
			case j.Image == "never":
				if firstSeen[j.Image].Add(delay).Before(time.Now()) {
					p.GivenUp[j.ItemKey()] = GiveUp{Reason: ReasonNotInSWR, Message: "never appeared"}
				} else {
					p.Deferred[j.ItemKey()] = Deferral{Delay: delay, Reason: "waiting_presence"}
				}
			case j.Image == "late" && time.Since(firstSeen[j.Image]) < delay:
				p.Deferred[j.ItemKey()] = Deferral{Delay: delay, Reason: "waiting_presence"}
			default:
				ok = append(ok, j)
			}
		}
		calls = append(calls, names)
		k.add(ok)
		return p
	}}
	jobs := []scanjob.Job{
		testJob(targetA, "team", "now", "1"), testJob(targetA, "team", "late", "1"),
		testJob(targetA, "team", "never", "1"), testJob(targetA, "team", "also-now", "1"),
	}
	start := time.Now()
	publishAll(t, q, jobs)
	runConsumer(t, q, s)
	k.wait(t)
	if waited := time.Since(start); waited < delay {
		t.Errorf("the late job was scanned after %s, before its delay of %s", waited, delay)
	}
	natstest.Eventually(t, patience, "one dead letter", func() bool { return streamMsgs(t, q.dlq) == 1 })
	natstest.Eventually(t, patience, "the work queue to empty", func() bool { return streamMsgs(t, q.stream) == 0 })

	mu.Lock()
	for _, c := range calls {
		if len(c) == 1 && c[0] != "late" && c[0] != "never" {
			t.Errorf("a call of one item %v: looks like bisection (calls %v)", c, calls)
		}
	}
	mu.Unlock()
	for _, j := range jobs[:2] {
		if n := k.count(j.ID()); n != 1 {
			t.Errorf("%s accepted %d times, want once", j.Image, n)
		}
	}
	recs, err := q.DeadLetters().List(t.Context(), Filter{Reason: ReasonNotInSWR})
	if err != nil || len(recs) != 1 || recs[0].Job == nil || recs[0].Job.Image != "never" || recs[0].Attempts < 2 {
		t.Fatalf("not_in_swr dead letters = %+v, %v; want the never-present job, delivered more than once", recs, err)
	}
	if got := testutil.ToFloat64(m.deadLetters.WithLabelValues(ReasonNotInSWR)); got != 1 {
		t.Errorf("dead_letters_total{reason=not_in_swr} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.images.WithLabelValues(resultDeferred)); got < 2 {
		t.Errorf("images_total{result=deferred} = %v, want at least 2", got)
	}
	if got := testutil.ToFloat64(m.batches.WithLabelValues(resultRejected)); got != 0 {
		t.Errorf("batches_total{result=rejected} = %v, want 0: nothing was bisected", got)
	}
}

// TestDeadLetterJobIsStoredOnceAndRedrivenWithANewClock: the watcher's
// path for a job whose message was acked already.
func TestDeadLetterJobIsStoredOnceAndRedrivenWithANewClock(t *testing.T) {
	js := natstest.Start(t).JetStream()
	q := openQueue(t, js, natsConfig(), nil)
	job := testJob(targetA, "team", "slow", "1")
	v := Verdict{Class: Accepted, RequestID: "req-9"}
	for range 2 { // a watcher that crashed after the first write gives it up again
		if err := q.DeadLetterJob(t.Context(), job, ReasonScanTimeout, v, "no final scan_status within 2h"); err != nil {
			t.Fatalf("DeadLetterJob: %v", err)
		}
	}
	if err := q.DeadLetterJob(t.Context(), job, "", v, "x"); err == nil {
		t.Error("DeadLetterJob without a reason: no error")
	}
	dl := q.DeadLetters()
	recs, err := dl.List(t.Context(), Filter{Reason: ReasonScanTimeout})
	if err != nil || len(recs) != 1 {
		t.Fatalf("List = %+v, %v; want one record", recs, err)
	}
	r := recs[0]
	if r.Job == nil || r.Job.ID() != job.ID() || r.MsgID != job.ID() || r.Class != "accepted" || r.RequestID != "req-9" ||
		r.Error != "no final scan_status within 2h" || !r.FirstSeen.Equal(job.AcceptedAt) || r.Subject != "scanjobs.private_image.team" {
		t.Errorf("record = %+v", r)
	}
	if other, err := dl.List(t.Context(), Filter{Reason: ReasonNotInSWR}); err != nil || len(other) != 0 {
		t.Errorf("List(reason not_in_swr) = %d records, %v; want none", len(other), err)
	}

	k := newSink(1)
	var got []scanjob.Job
	var mu sync.Mutex
	s := &fakeScanner{scan: func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
		mu.Lock()
		got = append(got, items...)
		mu.Unlock()
		k.add(items)
		return nil
	}}
	runConsumer(t, q, s)
	before := time.Now()
	rep, err := dl.Redrive(t.Context(), Filter{Reason: ReasonScanTimeout}, false)
	if err != nil || len(rep.Redriven) != 1 {
		t.Fatalf("redrive = %+v, %v", rep, err)
	}
	k.wait(t)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].AcceptedAt.Before(before.Add(-time.Second)) {
		t.Errorf("redriven job %+v: want a new AcceptedAt (the presence and scan clocks restart)", got)
	}
}
