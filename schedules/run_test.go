package schedules

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
