package schedules

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// messages is a slog handler that keeps the messages, for tests that
// wait for a replica's decision.
type messages struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (m *messages) Enabled(context.Context, slog.Level) bool { return true }
func (m *messages) Handle(_ context.Context, r slog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs[r.Message]++
	return nil
}
func (m *messages) WithAttrs([]slog.Attr) slog.Handler { return m }
func (m *messages) WithGroup(string) slog.Handler      { return m }
func (m *messages) count(msg string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.msgs[msg]
}

// TestTwoReplicasRunningTheClockRunAFireOnce runs the whole loop of two
// replicas on one NATS, on a clock set just before a fire so the test
// waits a fraction of a second, not a minute: one replica runs the fire,
// the other finds it claimed.
func TestTwoReplicasRunningTheClockRunAFireOnce(t *testing.T) {
	srv := natstest.Start(t)
	fire := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	offset := fire.Add(-200 * time.Millisecond).Sub(time.Now())
	now := func() time.Time { return time.Now().Add(offset) }
	var sends atomic.Int32
	scanner := sendFunc(func(context.Context, hssclient.Target, hssclient.BatchScanRequest) error {
		sends.Add(1)
		return nil
	})
	log := &messages{msgs: map[string]int{}}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, replica := range []string{"a", "b"} {
		s, err := New(Config{Name: "nightly", Cron: "0 3 * * *", Action: ActionFullScan, FullScan: FullScan{Target: target}},
			Deps{KV: openKV(t, srv.JetStream()), Scanner: scanner, Replica: replica, Now: now, Logger: slog.New(log)})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { s.Run(ctx) })
	}
	natstest.Eventually(t, 10*time.Second, "one replica runs the fire and the other finds it claimed", func() bool {
		return log.count("scheduled run finished") == 1 && log.count("fire claimed by another replica") == 1
	})
	if n := sends.Load(); n != 1 {
		t.Fatalf("%d full scans sent, want 1", n)
	}
}

// TestCatchUpRunsTheLatestMissedFireOnce: a replica that starts after
// fires it missed runs the latest of them, once, when catch_up is on and
// the schedule ran before.
func TestCatchUpRunsTheLatestMissedFireOnce(t *testing.T) {
	srv := natstest.Start(t)
	kv := openKV(t, srv.JetStream())
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	if err := writeLast(t.Context(), kv, LastRun{Schedule: "nightly", Fire: at.Add(-4 * 24 * time.Hour), Result: ResultOK}); err != nil {
		t.Fatal(err)
	}
	var sends atomic.Int32
	s, err := New(Config{Name: "nightly", Cron: "0 3 * * *", Action: ActionFullScan, CatchUp: true, FullScan: FullScan{Target: target}},
		Deps{KV: kv, Replica: "a", Now: func() time.Time { return at }, Scanner: sendFunc(func(context.Context, hssclient.Target, hssclient.BatchScanRequest) error {
			sends.Add(1)
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	natstest.Eventually(t, 10*time.Second, "the latest missed fire is run", func() bool {
		lr, ok, _ := ReadLastRun(t.Context(), kv, "nightly")
		return ok && lr.Result == ResultOK && lr.Fire.Equal(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	})
	if n := sends.Load(); n != 1 {
		t.Fatalf("%d full scans, want 1 (the latest missed fire only)", n)
	}
}

// runUntil runs s.Run until the test ends.
func runUntil(t *testing.T, s *Schedule) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestARunCutOffByShutdownIsCaughtUpAtTheNextStart: a replica stopped
// while its run waits (a full scan waiting for its permit) records the
// run as interrupted and gives its claim back, so the next replica to
// start runs that fire again instead of finding it claimed by a replica
// that is gone.
func TestARunCutOffByShutdownIsCaughtUpAtTheNextStart(t *testing.T) {
	srv := natstest.Start(t)
	kv := openKV(t, srv.JetStream())
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	fire := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	cfg := Config{Name: "nightly", Cron: "0 3 * * *", Action: ActionFullScan, CatchUp: true, FullScan: FullScan{Target: target}}
	if err := writeLast(t.Context(), kv, LastRun{Schedule: "nightly", Fire: fire.Add(-24 * time.Hour), Result: ResultOK}); err != nil {
		t.Fatal(err)
	}
	a, waiting := stoppedInRun(t, cfg, kv, func() time.Time { return at })
	ctx, stop := context.WithCancel(t.Context())
	go func() { <-waiting; stop() }()
	lr, ran, err := a.Fire(ctx, fire)
	if !ran || err == nil || lr.Result != ResultInterrupted {
		t.Fatalf("Fire = %+v, %v, %v; want an interrupted run", lr, ran, err)
	}
	if _, err := kv.Get(t.Context(), ClaimKey("nightly", fire)); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the claim is still there: %v", err)
	}
	if got, _, _ := ReadLastRun(t.Context(), kv, "nightly"); got.Result != ResultInterrupted || !got.Fire.Equal(fire) {
		t.Fatalf("last run %+v", got)
	}

	var sends atomic.Int32
	b, err := New(cfg, Deps{KV: kv, Replica: "b", Now: func() time.Time { return at },
		Scanner: sendFunc(func(context.Context, hssclient.Target, hssclient.BatchScanRequest) error { sends.Add(1); return nil })})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, b)
	natstest.Eventually(t, 10*time.Second, "the interrupted fire is run again", func() bool {
		lr, ok, _ := ReadLastRun(t.Context(), kv, "nightly")
		return ok && lr.Result == ResultOK && lr.Fire.Equal(fire) && lr.Replica == "b"
	})
	if n := sends.Load(); n != 1 {
		t.Fatalf("%d full scans, want 1", n)
	}
}

// TestAClaimOfADeadReplicaIsTakenOverOnlyWhenStale: a replica killed in
// a run leaves its claim and a "running" record. A catch-up leaves a
// claim younger than the run's timeout alone (its run may still be under
// way) and takes over one older than that.
func TestAClaimOfADeadReplicaIsTakenOverOnlyWhenStale(t *testing.T) {
	fire := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	cfg := Config{Name: "nightly", Cron: "0 3 * * *", Action: ActionFullScan, CatchUp: true, FullScan: FullScan{Target: target}, Timeout: 15 * time.Minute}
	for _, tc := range []struct {
		name     string
		claimAge time.Duration
		wantRun  bool
	}{
		{"under way", 10 * time.Minute, false},
		{"past the timeout", 15*time.Minute + lateGrace, false},
		{"stale", 17 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.Start(t)
			kv := openKV(t, srv.JetStream())
			at := fire.Add(time.Hour)
			claimedAt := at.Add(-tc.claimAge)
			if _, won, err := claimFire(t.Context(), kv, "nightly", fire, "dead", claimedAt, time.Hour); err != nil || !won {
				t.Fatal(won, err)
			}
			if err := writeLast(t.Context(), kv, LastRun{Schedule: "nightly", Fire: fire, Replica: "dead", Started: claimedAt, Result: ResultRunning}); err != nil {
				t.Fatal(err)
			}
			log := &messages{msgs: map[string]int{}}
			var sends atomic.Int32
			s, err := New(cfg, Deps{KV: kv, Replica: "b", Now: func() time.Time { return at }, Logger: slog.New(log),
				Scanner: sendFunc(func(context.Context, hssclient.Target, hssclient.BatchScanRequest) error { sends.Add(1); return nil })})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantRun {
				runUntil(t, s)
				natstest.Eventually(t, 10*time.Second, "the stale claim's fire is run", func() bool {
					lr, ok, _ := ReadLastRun(t.Context(), kv, "nightly")
					return ok && lr.Result == ResultOK && lr.Replica == "b"
				})
			} else {
				runUntil(t, s)
				natstest.Eventually(t, 10*time.Second, "the catch-up finds the fire claimed", func() bool {
					return log.count("fire claimed by another replica") == 1
				})
			}
			if n, want := sends.Load(), map[bool]int32{true: 1}[tc.wantRun]; n != want {
				t.Fatalf("%d full scans, want %d", n, want)
			}
		})
	}
}

// TestAClaimWhoseAnswerAShutdownCutOffIsGivenBack: the claim reached the
// server but the stop cut its answer off (here: the claim is made as the
// replica would have made it, then Fire runs with its context done). The
// replica finds the claim is its own and gives it back; another
// replica's claim is left alone.
func TestAClaimWhoseAnswerAShutdownCutOffIsGivenBack(t *testing.T) {
	fire := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	at := fire.Add(time.Minute)
	for _, tc := range []struct {
		holder   string
		wantKept bool
	}{{"a", false}, {"other", true}} {
		t.Run(tc.holder, func(t *testing.T) {
			srv := natstest.Start(t)
			kv := openKV(t, srv.JetStream())
			if _, won, err := claimFire(t.Context(), kv, "nightly", fire, tc.holder, at, time.Hour); err != nil || !won {
				t.Fatal(won, err)
			}
			s, err := New(Config{Name: "nightly", Cron: "0 3 * * *", Action: ActionFullScan, FullScan: FullScan{Target: target}},
				Deps{KV: kv, Replica: "a", Now: func() time.Time { return at },
					Scanner: sendFunc(func(context.Context, hssclient.Target, hssclient.BatchScanRequest) error {
						t.Error("a stopped replica sent a full scan")
						return nil
					})})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if _, ran, err := s.Fire(ctx, fire); ran || err == nil {
				t.Fatalf("Fire with a done context: ran %v, err %v", ran, err)
			}
			_, err = kv.Get(t.Context(), ClaimKey("nightly", fire))
			if kept := err == nil; kept != tc.wantKept {
				t.Fatalf("claim of %s kept: %v (%v), want %v", tc.holder, kept, err, tc.wantKept)
			}
		})
	}
}

// TestAReplicaStillRunningResumesAFireWhoseRunDidNotEnd: replica a is
// stopped in its run and no replica starts after it (a scale-down). b,
// running all along, found the fire claimed by a; on its next recheck it
// sees the run interrupted and runs the fire, once.
func TestAReplicaStillRunningResumesAFireWhoseRunDidNotEnd(t *testing.T) {
	srv := natstest.Start(t)
	kv := openKV(t, srv.JetStream())
	fire := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	at := fire.Add(time.Minute)
	now := func() time.Time { return at }
	cfg := Config{Name: "nightly", Cron: "0 3 * * *", Action: ActionFullScan, CatchUp: true, FullScan: FullScan{Target: target}}
	if err := writeLast(t.Context(), kv, LastRun{Schedule: "nightly", Fire: fire.Add(-24 * time.Hour), Result: ResultOK}); err != nil {
		t.Fatal(err)
	}
	a, waiting := stoppedInRun(t, cfg, kv, now)
	actx, stopA := context.WithCancel(t.Context())
	aDone := make(chan LastRun)
	go func() { lr, _, _ := a.Fire(actx, fire); aDone <- lr }()
	<-waiting // a holds the claim and runs

	log := &messages{msgs: map[string]int{}}
	var sends atomic.Int32
	b, err := New(cfg, Deps{KV: kv, Replica: "b", Now: now, Logger: slog.New(log), Recheck: 50 * time.Millisecond,
		Scanner: sendFunc(func(context.Context, hssclient.Target, hssclient.BatchScanRequest) error { sends.Add(1); return nil })})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, b)
	natstest.Eventually(t, 10*time.Second, "b finds the fire claimed by a", func() bool {
		return log.count("fire claimed by another replica") == 1
	})
	time.Sleep(200 * time.Millisecond) // rechecks while a's run goes on change nothing
	if n := sends.Load(); n != 0 {
		t.Fatalf("b sent %d full scans while a's run went on", n)
	}
	stopA()
	if lr := <-aDone; lr.Result != ResultInterrupted {
		t.Fatalf("a's run: %+v", lr)
	}
	natstest.Eventually(t, 10*time.Second, "b runs the interrupted fire", func() bool {
		lr, ok, _ := ReadLastRun(t.Context(), kv, "nightly")
		return ok && lr.Result == ResultOK && lr.Fire.Equal(fire) && lr.Replica == "b"
	})
	time.Sleep(200 * time.Millisecond) // and not again
	if n := sends.Load(); n != 1 {
		t.Fatalf("b sent %d full scans, want 1", n)
	}
}

// stoppedInRun is replica "a" whose full scan waits until its run is
// stopped; waiting is closed once the run holds its claim and waits.
func stoppedInRun(t *testing.T, cfg Config, kv jetstream.KeyValue, now func() time.Time) (*Schedule, chan struct{}) {
	t.Helper()
	waiting := make(chan struct{})
	a, err := New(cfg, Deps{KV: kv, Replica: "a", Now: now,
		Scanner: sendFunc(func(ctx context.Context, _ hssclient.Target, _ hssclient.BatchScanRequest) error {
			close(waiting)
			<-ctx.Done()
			return ctx.Err()
		})})
	if err != nil {
		t.Fatal(err)
	}
	return a, waiting
}
