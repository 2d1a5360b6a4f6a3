package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// harness runs a batcher in a synctest bubble with fakes around it.
type harness struct {
	t        *testing.T
	b        *batcher
	scanner  *fakeScanner
	dlq      *fakeDLQ
	accepted *fakeAccepted
	cancel   context.CancelFunc
	done     chan struct{}
	seq      uint64
}

// testConfig is small enough to read in a test: groups of 3, calls of 6.
func testConfig() ConsumerConfig {
	return Config{Consumer: ConsumerConfig{
		MaxItems: 3, MaxItemsPerCall: 6, Linger: 5 * time.Second, Heartbeat: 10 * time.Second,
		BackoffBase: 5 * time.Second, BackoffCap: 20 * time.Second,
	}}.WithDefaults().Consumer
}

func startBatcher(t *testing.T, cfg ConsumerConfig, s *fakeScanner) *harness {
	t.Helper()
	h := &harness{t: t, scanner: s, dlq: &fakeDLQ{}, accepted: newFakeAccepted(), done: make(chan struct{})}
	h.b = newBatcher(cfg, s, testTargets, h.dlq, h.accepted, NewMetrics(nil), testLogger(t))
	h.b.rand = func() float64 { return 0 } // no jitter: delays are exact
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		h.b.run(ctx)
	}()
	t.Cleanup(func() {
		h.b.closeInput()
		if s.gate != nil {
			close(s.gate) // let a blocked Acquire return
		}
		<-h.done
		cancel()
		if n := h.b.held.Load(); n != 0 {
			t.Errorf("batcher still counts %d held messages after run returned", n)
		}
		if a, r := s.permits(); a != r {
			t.Errorf("permits acquired %d, released %d", a, r)
		}
	})
	return h
}

// send delivers a job as a new message (first delivery).
func (h *harness) send(job scanjob.Job) *fakeMsg {
	h.t.Helper()
	return h.sendDelivered(job, 1)
}

func (h *harness) sendDelivered(job scanjob.Job, delivered uint64) *fakeMsg {
	h.t.Helper()
	h.seq++
	m := newFakeMsg(h.t, job, h.seq, delivered)
	if !h.b.deliver(context.Background(), m) {
		h.t.Fatalf("deliver %s refused", job.Ref())
	}
	return m
}

func wantOutcome(t *testing.T, want string, msgs ...*fakeMsg) {
	t.Helper()
	for i, m := range msgs {
		if got := m.outcome(); got != want {
			t.Errorf("message %d (%s): outcome %q, want %q", i, m.d.MsgID, got, want)
		}
	}
}

func itemNames(items []scanjob.Job) []string {
	var out []string
	for _, j := range items {
		out = append(out, j.Namespace+"/"+j.Image+":"+j.Tag)
	}
	return out
}

func TestBatcherSendsAFullGroup(t *testing.T) {
	// A namespace group of max_items (3) in a call of up to 6: with ready
	// packing it is ready at once; with quota packing only a full call
	// is (TestBatcherQuotaAsksAtOnceForAFullCall), and the group lingers
	// like any other, so that a burst's first call is not sent with the
	// first namespace to fill up.
	tests := []struct {
		name    string
		packing string
		want    time.Duration
	}{
		{"ready: at once", PackReady, 0},
		{"quota: after the linger", PackQuota, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &fakeScanner{}
				cfg := testConfig()
				cfg.Packing = tt.packing
				h := startBatcher(t, cfg, s)
				start := time.Now()
				msgs := []*fakeMsg{
					h.send(testJob(targetA, "team", "api", "1")),
					h.send(testJob(targetA, "team", "api", "2")),
					h.send(testJob(targetA, "team", "web", "1")),
				}
				for synctest.Wait(); len(s.recorded()) == 0; synctest.Wait() {
					time.Sleep(time.Second)
				}
				calls := s.recorded()
				if len(calls) != 1 || len(calls[0].items) != 3 {
					t.Fatalf("calls = %v, want one call with the 3 items", calls)
				}
				if waited := time.Since(start); waited != tt.want {
					t.Errorf("a full group waited %s, want %s", waited, tt.want)
				}
				wantOutcome(t, "ack", msgs...)
			})
		})
	}
}

func TestBatcherFlushesAPartialGroupWhenItsLingerEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{}
		cfg := testConfig()
		h := startBatcher(t, cfg, s)
		a := h.send(testJob(targetA, "team", "api", "1"))
		time.Sleep(2 * time.Second)
		b := h.send(testJob(targetA, "team", "api", "2"))

		time.Sleep(cfg.Linger - 2*time.Second - time.Nanosecond)
		synctest.Wait()
		if n := len(s.recorded()); n != 0 {
			t.Fatalf("%d calls before the first item's linger ended, want 0", n)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		calls := s.recorded()
		if len(calls) != 1 || len(calls[0].items) != 2 {
			t.Fatalf("calls = %v, want one call with both items when the linger of the first ends", calls)
		}
		wantOutcome(t, "ack", a, b)

		// The next item starts a new group with a fresh linger.
		c := h.send(testJob(targetA, "team", "api", "3"))
		time.Sleep(cfg.Linger)
		synctest.Wait()
		if n := len(s.recorded()); n != 2 {
			t.Fatalf("%d calls, want a second call one linger after the third item", n)
		}
		wantOutcome(t, "ack", c)
	})
}

func TestBatcherServesNamespacesRoundRobinWhenPermitsAreScarce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{gate: make(chan struct{})}
		cfg := testConfig()
		cfg.MaxItems, cfg.MaxItemsPerCall = 2, 4
		// Ready packing: whole groups, one per namespace per round.
		// TestBatcherQuotaPackingServesEveryNamespace is the quota one.
		cfg.Packing = PackReady
		h := startBatcher(t, cfg, s)

		// A busy namespace fills four groups before two quiet ones push.
		for i := range 8 {
			h.send(testJob(targetA, "busy", "app", fmt.Sprint(i)))
		}
		for _, ns := range []string{"quiet1", "quiet2"} {
			h.send(testJob(targetA, ns, "app", "1"))
			h.send(testJob(targetA, ns, "app", "2"))
		}
		synctest.Wait()
		if n := len(s.recorded()); n != 0 {
			t.Fatalf("%d calls without a permit", n)
		}

		want := [][]string{{"busy", "quiet1"}, {"quiet2", "busy"}, {"busy"}}
		for i, ns := range want {
			s.gate <- struct{}{}
			synctest.Wait()
			calls := s.recorded()
			if len(calls) != i+1 {
				t.Fatalf("after permit %d: %d calls", i+1, len(calls))
			}
			if got := calls[i].namespaces(); !slices.Equal(got, ns) {
				t.Errorf("call %d carries namespaces %v, want %v (items %v)", i+1, got, ns, itemNames(calls[i].items))
			}
			if n := len(calls[i].items); n > cfg.MaxItemsPerCall {
				t.Errorf("call %d has %d items, more than %d", i+1, n, cfg.MaxItemsPerCall)
			}
		}
	})
}

func TestBatcherCollapsesIdenticalItemsAndAcksEveryMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{gate: make(chan struct{})}
		h := startBatcher(t, testConfig(), s)

		// Group 1 is full with three items, one of them pushed twice
		// (two digests of one tag); group 2 repeats an item of group 1.
		a1 := testJob(targetA, "team", "api", "1")
		a1.Digest = "sha256:" + strings.Repeat("a", 64)
		a2 := a1
		a2.Digest = "sha256:" + strings.Repeat("b", 64)
		msgs := []*fakeMsg{
			h.send(a1), h.send(a2),
			h.send(testJob(targetA, "team", "web", "1")),
			h.send(testJob(targetA, "team", "db", "1")),
			h.send(testJob(targetA, "team", "api", "1")),
		}
		time.Sleep(testConfig().Linger)
		synctest.Wait() // the linger timer fired and group 2 is ready
		s.gate <- struct{}{}
		synctest.Wait()

		calls := s.recorded()
		if len(calls) != 1 {
			t.Fatalf("%d calls, want the two groups packed into one", len(calls))
		}
		if got, want := itemNames(calls[0].items), []string{"team/api:1", "team/web:1", "team/db:1"}; !slices.Equal(got, want) {
			t.Errorf("items %v, want %v", got, want)
		}
		wantOutcome(t, "ack", msgs...)
	})
}

func TestBatcherNeverMixesTargetsInOneCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{gate: make(chan struct{})}
		h := startBatcher(t, testConfig(), s)
		for i := range 4 {
			h.send(testJob(targetA, "team", "app", fmt.Sprint(i)))
			h.send(testJob(targetB, "team", "app", fmt.Sprint(i)))
		}
		time.Sleep(testConfig().Linger)
		synctest.Wait()
		for range 2 {
			s.gate <- struct{}{}
		}
		synctest.Wait()
		calls := s.recorded()
		if len(calls) != 2 {
			t.Fatalf("%d calls, want 2", len(calls))
		}
		seen := map[string]int{}
		for i, c := range calls {
			for _, j := range c.items {
				if j.Target != c.target {
					t.Errorf("call %d for %s carries an item of %s", i, c.target.Key(), j.Target.Key())
				}
			}
			seen[c.target.Key()] += len(c.items)
		}
		if seen[targetA.Key()] != 4 || seen[targetB.Key()] != 4 {
			t.Errorf("items per target %v, want 4 each", seen)
		}
	})
}

func TestBatcherKeepsMessagesAliveWhileTheyWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		s := &fakeScanner{gate: make(chan struct{})}
		s.scan = func(ctx context.Context, _ scanjob.Target, _ []scanjob.Job) error {
			<-release
			return nil
		}
		cfg := testConfig()
		h := startBatcher(t, cfg, s)
		msgs := []*fakeMsg{
			h.send(testJob(targetA, "team", "api", "1")),
			h.send(testJob(targetA, "team", "api", "2")),
		}

		// Lingering, then ready and waiting for a permit: the loop sends
		// InProgress every heartbeat.
		time.Sleep(cfg.Linger + 2*cfg.Heartbeat)
		synctest.Wait()
		for i, m := range msgs {
			if got := m.progressCount(); got < 2 {
				t.Errorf("message %d got %d InProgress while waiting for a permit, want at least 2", i, got)
			}
		}
		wantOutcome(t, "", msgs...)

		// In a slow call: the sender keeps them alive.
		s.gate <- struct{}{}
		synctest.Wait()
		before := msgs[0].progressCount()
		time.Sleep(3 * cfg.Heartbeat)
		synctest.Wait()
		if got := msgs[0].progressCount() - before; got != 3 {
			t.Errorf("%d InProgress during a call lasting 3 heartbeats, want 3", got)
		}
		close(release)
		synctest.Wait()
		wantOutcome(t, "ack", msgs...)
	})
}

func TestBatcherRetryNaksWithGrowingCappedDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{scan: func(context.Context, scanjob.Target, []scanjob.Job) error {
			return &verdictError{Verdict{Class: Retry, Status: 503, Code: "HSS.0503"}}
		}}
		cfg := testConfig() // base 5s, cap 20s
		h := startBatcher(t, cfg, s)
		tests := []struct {
			delivered uint64
			want      time.Duration
		}{{1, 5 * time.Second}, {2, 10 * time.Second}, {3, 20 * time.Second}, {4, 20 * time.Second}, {500, 20 * time.Second}}
		var msgs []*fakeMsg
		for i, tt := range tests {
			msgs = append(msgs, h.sendDelivered(testJob(targetA, "team", "app", fmt.Sprint(i)), tt.delivered))
		}
		time.Sleep(cfg.Linger)
		synctest.Wait()
		for i, tt := range tests {
			m := msgs[i]
			if got := m.outcome(); got != "nak-delay" {
				t.Fatalf("delivery %d: outcome %q, want nak-delay", tt.delivered, got)
			}
			if m.delays[0] != tt.want {
				t.Errorf("delivery %d: delay %s, want %s", tt.delivered, m.delays[0], tt.want)
			}
		}
	})
}

func TestBackoffJitterOnlyShortensTheDelay(t *testing.T) {
	b := newBatcher(testConfig(), &fakeScanner{}, testTargets, &fakeDLQ{}, nil, nil, nil)
	tests := []struct {
		name      string
		rand      float64
		delivered uint64
		want      time.Duration
	}{
		{"no draw keeps the full delay", 0, 2, 10 * time.Second},
		{"the largest draw takes off the jitter fraction", 1, 2, 8 * time.Second},
		{"jitter applies below the cap, so the cap holds", 0.5, 50, 18 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.rand = func() float64 { return tt.rand }
			if got := b.backoff(tt.delivered); got != tt.want {
				t.Errorf("backoff(%d) = %s, want %s", tt.delivered, got, tt.want)
			}
		})
	}
}

func TestBatcherBisectsARejectedCallDownToTheBadItem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := Verdict{Class: Permanent, Status: 400, Code: "HSS.1001", Message: "image not found", RequestID: "req-42"}
		s := &fakeScanner{scan: func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
			for _, j := range items {
				if j.Image == "bad" {
					return &verdictError{bad}
				}
			}
			return nil
		}}
		cfg := testConfig()
		cfg.MaxItems, cfg.MaxItemsPerCall = 5, 5 // the five items are a full call: sent at once
		h := startBatcher(t, cfg, s)
		var good []*fakeMsg
		for _, img := range []string{"a", "b", "c"} {
			good = append(good, h.send(testJob(targetA, "team", img, "1")))
		}
		poison := h.sendDelivered(testJob(targetA, "team", "bad", "1"), 3)
		good = append(good, h.send(testJob(targetA, "team", "d", "1")))
		synctest.Wait()

		wantOutcome(t, "ack", good...)
		wantOutcome(t, "term", poison)
		recs := h.dlq.all()
		if len(recs) != 1 {
			t.Fatalf("%d dead letters, want exactly the bad item", len(recs))
		}
		r := recs[0]
		if r.Job == nil || r.Job.Image != "bad" || r.Reason != ReasonRejected || r.Class != "permanent" ||
			r.Status != 400 || r.ErrorCode != "HSS.1001" || r.ErrorMsg != "image not found" ||
			r.RequestID != "req-42" || r.Attempts != 3 || r.StreamSeq != poison.d.StreamSeq ||
			!r.FirstSeen.Equal(r.Job.AcceptedAt) || r.FailedAt.IsZero() {
			t.Errorf("dead letter = %+v", r)
		}
		if !strings.Contains(poison.termReason, "HSS.1001") {
			t.Errorf("term reason %q does not name the error code", poison.termReason)
		}
		// 5 → 2 + 3 → (3 →) 1 + 2 → (2 →) 1 + 1, halves running in
		// parallel; every call had its own permit.
		calls := s.recorded()
		var sizes []int
		for _, c := range calls {
			sizes = append(sizes, len(c.items))
		}
		slices.Sort(sizes)
		if want := []int{1, 1, 1, 2, 2, 3, 5}; !slices.Equal(sizes, want) {
			t.Errorf("call sizes %v, want %v", sizes, want)
		}
		if a, _ := s.permits(); a != len(calls) {
			t.Errorf("%d permits for %d calls", a, len(calls))
		}
	})
}

func TestBatcherDeadLettersMalformedMessagesAndGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{}
		cfg := testConfig()
		h := startBatcher(t, cfg, s)
		tests := []struct {
			name, body, wantErr string
		}{
			{"a body that is not JSON", "{not json", "decode job"},
			{"a job that breaks the HSS limits", `{"receiver":"r","registry":"x","namespace":"team","image_name":"api"}`, "image_version is required"},
		}
		var bad []*fakeMsg
		for i, tt := range tests {
			m := &fakeMsg{data: []byte(tt.body), d: delivery{Subject: "scanjobs.private_image.team", StreamSeq: uint64(100 + i), NumDelivered: 1}}
			if !h.b.deliver(context.Background(), m) {
				t.Fatal("deliver refused")
			}
			bad = append(bad, m)
		}
		ok := h.send(testJob(targetA, "team", "api", "1"))
		time.Sleep(cfg.Linger)
		synctest.Wait()

		wantOutcome(t, "term", bad...)
		wantOutcome(t, "ack", ok)
		recs := h.dlq.all()
		if len(recs) != len(tests) {
			t.Fatalf("%d dead letters, want %d", len(recs), len(tests))
		}
		bySeq := map[uint64]DeadLetter{}
		for _, r := range recs {
			bySeq[r.StreamSeq] = r // written concurrently: match by message
		}
		for i, tt := range tests {
			r := bySeq[uint64(100+i)]
			if r.Reason != ReasonMalformed || r.Job != nil || string(r.Raw) != tt.body || !strings.Contains(r.Error, tt.wantErr) {
				t.Errorf("%s: dead letter %+v, want malformed with the body and %q", tt.name, r, tt.wantErr)
			}
		}
	})
}

func TestBatcherNaksInsteadOfTermWhenTheDeadLetterCannotBeStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{scan: func(context.Context, scanjob.Target, []scanjob.Job) error {
			return &verdictError{Verdict{Class: Permanent, Status: 400}}
		}}
		h := startBatcher(t, testConfig(), s)
		h.dlq.fail = errors.New("dead-letter stream unavailable")
		m := h.send(testJob(targetA, "team", "api", "1"))
		time.Sleep(testConfig().Linger)
		synctest.Wait()
		wantOutcome(t, "nak-delay", m)
	})
}

func TestBatcherShutdownNaksUnsentAndFinishesCallsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		s := &fakeScanner{gate: make(chan struct{}, 1)}
		s.scan = func(context.Context, scanjob.Target, []scanjob.Job) error {
			<-release
			return nil
		}
		cfg := testConfig()
		cfg.MaxItems, cfg.MaxItemsPerCall = 2, 2
		h := startBatcher(t, cfg, s)
		s.gate <- struct{}{} // exactly one permit
		inFlight := []*fakeMsg{h.send(testJob(targetA, "a", "x", "1")), h.send(testJob(targetA, "a", "x", "2"))}
		synctest.Wait() // the call is in flight before the others arrive
		ready := []*fakeMsg{h.send(testJob(targetA, "b", "x", "1")), h.send(testJob(targetA, "b", "x", "2"))}
		lingering := []*fakeMsg{h.send(testJob(targetA, "c", "x", "1"))}
		synctest.Wait()

		h.b.closeInput()
		synctest.Wait()
		wantOutcome(t, "nak", ready...)
		wantOutcome(t, "nak", lingering...)
		wantOutcome(t, "", inFlight...)
		select {
		case <-h.done:
			t.Fatal("run returned with a call in flight")
		default:
		}
		close(release)
		<-h.done
		wantOutcome(t, "ack", inFlight...)
		if n := len(s.recorded()); n != 1 {
			t.Errorf("%d calls, want only the one in flight before the stop", n)
		}
	})
}

func TestBatcherHardStopCancelsCallsAndNaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{scan: func(ctx context.Context, _ scanjob.Target, _ []scanjob.Job) error {
			<-ctx.Done()
			// What an HTTP client says when its request is cancelled; the
			// fake Judge would call it Retry, but a shutdown must not delay.
			return fmt.Errorf("post batch-scan: %w", ctx.Err())
		}}
		cfg := testConfig()
		cfg.MaxItemsPerCall = 3 // a full call: in flight at once
		h := startBatcher(t, cfg, s)
		msgs := []*fakeMsg{
			h.send(testJob(targetA, "a", "x", "1")),
			h.send(testJob(targetA, "a", "x", "2")),
			h.send(testJob(targetA, "a", "x", "3")),
		}
		synctest.Wait()
		if n := len(s.recorded()); n != 1 {
			t.Fatalf("%d calls in flight, want 1", n)
		}
		wantOutcome(t, "", msgs...)
		h.cancel()
		<-h.done
		wantOutcome(t, "nak", msgs...)
		// A message that arrives after the stop is given back at once.
		late := newFakeMsg(t, testJob(targetA, "a", "x", "4"), 99, 1)
		if h.b.deliver(context.Background(), late) {
			t.Error("deliver after stop accepted the message")
		}
		wantOutcome(t, "nak", late)
	})
}

func TestBatcherFetchRoomFollowsHeldMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{gate: make(chan struct{})}
		cfg := testConfig()
		cfg.MaxHeld = 10
		cfg.MaxItemsPerCall = 3 // the three items of targetA are a full call: sent at the first permit
		h := startBatcher(t, cfg, s)
		for i := range 3 {
			h.send(testJob(targetA, "team", "app", fmt.Sprint(i)))
		}
		h.send(testJob(targetB, "team", "app", "3")) // lingers: not in the first call
		synctest.Wait()
		if got := h.b.free(false); got != 6 {
			t.Errorf("free = %d with 4 of 10 held, want 6", got)
		}
		s.gate <- struct{}{}
		synctest.Wait()
		select {
		case <-h.b.room:
		default:
			t.Error("settling messages did not signal room")
		}
		if got := h.b.free(false); got != 9 {
			t.Errorf("free = %d after a 3-item call of the 4 held was acked, want 9", got)
		}
	})
}

func TestBatcherQuotaPackingServesEveryNamespace(t *testing.T) {
	// A busy namespace fills four groups while four quiet ones have one
	// image each, still lingering, when the first permit comes; the next
	// permit comes after the linger.
	type mix struct{ busy, quiet int } // busy items, quiet namespaces
	tests := []struct {
		name    string
		packing string
		want    []mix // of each call
	}{
		{"quota: the first permit takes the lingering ones too, a turn each", PackQuota, []mix{{2, 4}, {6, 0}}},
		{"ready: the quiet ones wait for their linger and a second permit", PackReady, []mix{{6, 0}, {3, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &fakeScanner{gate: make(chan struct{})}
				cfg := testConfig() // groups of 3, calls of 6
				cfg.Packing = tt.packing
				h := startBatcher(t, cfg, s)
				for i := range 12 {
					h.send(testJob(targetA, "busy", "app", fmt.Sprint(i)))
				}
				for i := range 4 {
					h.send(testJob(targetA, fmt.Sprintf("quiet%d", i+1), "app", "1"))
				}
				synctest.Wait()
				for i, want := range tt.want {
					if i > 0 {
						time.Sleep(cfg.Linger)
						synctest.Wait()
					}
					s.gate <- struct{}{}
					synctest.Wait()
					calls := s.recorded()
					if len(calls) != i+1 {
						t.Fatalf("after permit %d: %d calls", i+1, len(calls))
					}
					var got mix
					for _, j := range calls[i].items {
						if j.Namespace == "busy" {
							got.busy++
						} else {
							got.quiet++
						}
					}
					if got != want {
						t.Errorf("call %d carries %d busy items and %d quiet namespaces, want %d and %d (items %v)",
							i+1, got.busy, got.quiet, want.busy, want.quiet, itemNames(calls[i].items))
					}
					if n := len(calls[i].items); n != cfg.MaxItemsPerCall {
						t.Errorf("call %d has %d items, want a full call of %d", i+1, n, cfg.MaxItemsPerCall)
					}
				}
			})
		})
	}
}

func TestBatcherLingerBoundsTheWaitOfATargetsFirstItem(t *testing.T) {
	// Namespace a pushes at 0 s, namespace b at 4 s: with quota packing
	// one call at 5 s carries both; with ready packing each namespace
	// lingers on its own.
	tests := []struct {
		name    string
		packing string
		want    []time.Duration // when each call went
		items   []int
	}{
		{"quota: one call when the target's first item has lingered", PackQuota, []time.Duration{5 * time.Second}, []int{2}},
		{"ready: a call per namespace linger", PackReady, []time.Duration{5 * time.Second, 9 * time.Second}, []int{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &fakeScanner{}
				var at []time.Duration
				start := time.Now()
				s.scan = func(context.Context, scanjob.Target, []scanjob.Job) error {
					at = append(at, time.Since(start))
					return nil
				}
				cfg := testConfig()
				cfg.Packing = tt.packing
				h := startBatcher(t, cfg, s)
				a := h.send(testJob(targetA, "a", "app", "1"))
				time.Sleep(4 * time.Second)
				b := h.send(testJob(targetA, "b", "app", "1"))
				time.Sleep(time.Minute)
				synctest.Wait()
				calls := s.recorded()
				var items []int
				for _, c := range calls {
					items = append(items, len(c.items))
				}
				if !slices.Equal(at, tt.want) || !slices.Equal(items, tt.items) {
					t.Errorf("calls at %v with %v items, want at %v with %v", at, items, tt.want, tt.items)
				}
				wantOutcome(t, "ack", a, b)
			})
		})
	}
}

func TestBatcherQuotaAsksAtOnceForAFullCall(t *testing.T) {
	// Six namespaces of one image each fill a call of 6: with quota
	// packing it goes at once, lingering cannot make it fuller. With ready
	// packing it waits for the lingers, and the first to end takes the free
	// permit with whatever else has ended by then.
	tests := []struct {
		name      string
		packing   string
		want      time.Duration
		wantItems int // 0: any
	}{
		{"quota", PackQuota, 0, 6},
		{"ready", PackReady, 5 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &fakeScanner{}
				cfg := testConfig()
				cfg.Packing = tt.packing
				h := startBatcher(t, cfg, s)
				start := time.Now()
				for i := range cfg.MaxItemsPerCall {
					h.send(testJob(targetA, fmt.Sprintf("ns%d", i), "app", "1"))
				}
				for synctest.Wait(); len(s.recorded()) == 0; synctest.Wait() {
					time.Sleep(time.Second)
				}
				if got := time.Since(start); got != tt.want {
					t.Errorf("first call after %s, want %s", got, tt.want)
				}
				if n := len(s.recorded()[0].items); tt.wantItems != 0 && n != tt.wantItems {
					t.Errorf("first call has %d items, want %d", n, tt.wantItems)
				}
			})
		})
	}
}

func TestBatcherQuotaCollapsesAcrossReadyAndLingeringGroups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{gate: make(chan struct{})}
		h := startBatcher(t, testConfig(), s)
		// A full group (ready), then the same tag again in the namespace's
		// next group, still lingering when the permit comes.
		msgs := []*fakeMsg{
			h.send(testJob(targetA, "team", "api", "1")),
			h.send(testJob(targetA, "team", "web", "1")),
			h.send(testJob(targetA, "team", "db", "1")),
			h.send(testJob(targetA, "team", "api", "1")),
			h.send(testJob(targetA, "team", "cli", "1")),
		}
		synctest.Wait()
		s.gate <- struct{}{}
		synctest.Wait()
		calls := s.recorded()
		if len(calls) != 1 {
			t.Fatalf("%d calls, want 1", len(calls))
		}
		if got, want := itemNames(calls[0].items), []string{"team/api:1", "team/web:1", "team/db:1", "team/cli:1"}; !slices.Equal(got, want) {
			t.Errorf("items %v, want %v", got, want)
		}
		wantOutcome(t, "ack", msgs...)
	})
}

func TestBatcherQuotaKeepsWhatAFullCallLeftAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		s := &fakeScanner{gate: make(chan struct{}), scan: func(context.Context, scanjob.Target, []scanjob.Job) error {
			<-release
			return nil
		}}
		cfg := testConfig() // calls of 6
		h := startBatcher(t, cfg, s)
		var msgs []*fakeMsg
		for i := range 9 {
			msgs = append(msgs, h.send(testJob(targetA, "team", "app", fmt.Sprint(i))))
		}
		s.gate <- struct{}{} // one call of 6 goes and hangs; 3 images stay ready
		synctest.Wait()
		before := make([]int, len(msgs))
		for i, m := range msgs {
			before[i] = m.progressCount()
		}
		time.Sleep(2 * cfg.Heartbeat)
		synctest.Wait()
		for i, m := range msgs {
			if got := m.progressCount() - before[i]; got != 2 {
				t.Errorf("message %d: %d InProgress in two heartbeats, want 2 (in the call or left for the next)", i, got)
			}
		}
		if calls := s.recorded(); len(calls) != 1 || len(calls[0].items) != cfg.MaxItemsPerCall {
			t.Fatalf("calls %v, want one full call", calls)
		}
		close(release)
		s.gate <- struct{}{}
		synctest.Wait()
		wantOutcome(t, "ack", msgs...)
		if calls := s.recorded(); len(calls) != 2 || len(calls[1].items) != 3 {
			t.Errorf("calls %v, want the 3 left in a second call", calls)
		}
	})
}

// TestBatcherPushOvertakesABackgroundBacklog: a push that arrives behind
// 10,000 held sweep items goes in the very next call, and a target with a
// push waiting takes the permit before a target with only background
// items.
func TestBatcherPushOvertakesABackgroundBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{gate: make(chan struct{})}
		cfg := Config{Consumer: ConsumerConfig{MaxItems: 100, MaxItemsPerCall: 1000, MaxHeld: 12000}}.WithDefaults().Consumer
		h := startBatcher(t, cfg, s)
		for i := range 10000 {
			j := testJob(targetA, "bulk", "app", fmt.Sprint(i))
			j.Lane = scanjob.LaneSweep
			h.send(j)
		}
		// Another target's sweep is waiting too.
		other := testJob(targetB, "bulk", "app", "x")
		other.Lane = scanjob.LaneSweep
		h.send(other)

		s.gate <- struct{}{} // the first permit: the backlog's first call
		synctest.Wait()
		if calls := s.recorded(); len(calls) != 1 || len(calls[0].items) != 1000 {
			t.Fatalf("first call: %d calls, want one of 1000 sweep items", len(calls))
		}
		// Target A is first in turn (its backlog); B's push goes first.
		// Then A's push goes before the rest of A's backlog.
		var pushes []*fakeMsg
		for _, target := range []scanjob.Target{targetB, targetA} {
			pushes = append(pushes, h.send(testJob(target, "fresh", "app", "1")))
			time.Sleep(cfg.Linger)
			synctest.Wait() // the lingers that ended at this instant are flushed
			s.gate <- struct{}{}
			synctest.Wait()
			calls := s.recorded()
			c := calls[len(calls)-1]
			if c.target != target || c.items[0].Namespace != "fresh" || c.items[0].Lane.Background() {
				t.Fatalf("call %d: target %s, first item %s in lane %q; want the push to %s first",
					len(calls), c.target.Key(), c.items[0].Ref(), c.items[0].Lane, target.Key())
			}
		}
		wantOutcome(t, "ack", pushes...)
	})
}
