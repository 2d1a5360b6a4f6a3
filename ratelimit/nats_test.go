package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// The shared limiter on a real nats-server with JetStream, in this
// process, on loopback. Assertions are on counts that only a bug can
// break, never on how long something took.

// connect opens a connection of its own (one per replica), reconnecting
// quickly and forever.
func connect(ns *natstest.Server) jetstream.JetStream {
	return ns.JetStream(nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
}

func openShared(t testing.TB, js jetstream.JetStream, cfg Config, kv KVConfig, opts ...Option) *Shared {
	t.Helper()
	s, err := OpenShared(t.Context(), js, cfg, kv, opts...)
	if err != nil {
		t.Fatalf("open shared limiter: %v", err)
	}
	return s
}

func TestOpenSharedIsIdempotent(t *testing.T) {
	ns := natstest.Start(t)
	js := connect(ns)
	kvc := KVConfig{Bucket: "LIMITS_TEST", Key: "hss.batch_scan"}
	a := openShared(t, js, Config{}, kvc, WithLogger(testLogger(t)))
	if err := a.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), "LIMITS_TEST")
	if err != nil {
		t.Fatal(err)
	}
	before, err := kv.Get(t.Context(), "hss.batch_scan")
	if err != nil {
		t.Fatalf("state after one permit: %v", err)
	}

	// A second replica (and a restart) opens the same bucket: no error, and
	// the state a permit left is kept, so the next slot is 12.24 s away.
	b := openShared(t, connect(ns), Config{}, kvc)
	after, err := kv.Get(t.Context(), "hss.batch_scan")
	if err != nil {
		t.Fatal(err)
	}
	if after.Revision() != before.Revision() {
		t.Errorf("opening again wrote the key: revision %d, was %d", after.Revision(), before.Revision())
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := b.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("b's first wait with a 1 s deadline: %v, want DeadlineExceeded (a's permit holds the next 12.24 s)", err)
	}

	st, err := kv.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config
	if st.History() != 1 || cfg.Replicas != 1 || cfg.Storage != jetstream.FileStorage {
		t.Errorf("bucket history %d, replicas %d, storage %s; want 1, 1, file", st.History(), cfg.Replicas, cfg.Storage)
	}
	var s state
	if err := json.Unmarshal(after.Value(), &s); err != nil || s.Rate != 0 || s.TAT.IsZero() {
		t.Errorf("stored value %s (%v), want the TAT and no rate (0: the ceiling)", after.Value(), err)
	}
}

func TestOpenSharedRejectsBadConfigBeforeTouchingNATS(t *testing.T) {
	ns := natstest.Start(t)
	js := connect(ns)
	if _, err := OpenShared(t.Context(), js, Config{}, KVConfig{Bucket: "bad.name"}); err == nil {
		t.Fatal("open with bucket bad.name: no error")
	}
	if names := js.KeyValueStoreNames(t.Context()); names.Error() != nil {
		t.Fatal(names.Error())
	} else {
		for n := range names.Name() {
			t.Errorf("bucket %s created by a rejected config", n)
		}
	}
}

func TestSharedReplicasTogetherKeepTheRateOverNATS(t *testing.T) {
	ns := natstest.Start(t)
	// 600 a minute (one per 100 ms) with a burst of 3: a few dozen permits
	// in the run, three times as many if the replicas did not share.
	cfg := Config{CallsPerMinute: 600, Burst: 3}.WithDefaults()
	skews := []time.Duration{0, time.Hour, -90 * time.Second}
	var lims []Limiter
	var shared []*Shared
	for _, skew := range skews {
		s := openShared(t, connect(ns), cfg, KVConfig{},
			WithLogger(testLogger(t)), withClock(func() time.Time { return time.Now().Add(skew) }))
		lims, shared = append(lims, s), append(shared, s)
	}
	start := time.Now()
	per := grants(t, lims, 3, 1500*time.Millisecond)
	elapsed := time.Since(start)

	// Every slot lies between start and the last permit, and GCRA puts at
	// most Burst + span/interval slots in a span. The clock estimate may be
	// off by half a round trip at each end: two intervals of slack cover it
	// many times over, and sharing broken would triple the count.
	n := len(merged(per))
	bound := cfg.Burst + int(elapsed/cfg.interval(cfg.CallsPerMinute)) + 2
	if n > bound {
		t.Errorf("%d permits in %s from 3 replicas, want at most %d", n, elapsed, bound)
	}
	if n == 0 {
		t.Error("no permit at all")
	}
	var conflicts uint64
	for i, s := range shared {
		st := s.Stats()
		conflicts += st.Conflicts
		// The estimate is within half a round trip of the true offset
		// (this process's clock is the server's, so the truth is -skew).
		if d := (st.ClockOffset + skews[i]).Abs(); d > st.ClockUncertainty+time.Millisecond {
			t.Errorf("replica %d: clock offset %s ± %s, want %s", i, st.ClockOffset, st.ClockUncertainty, -skews[i])
		}
	}
	t.Logf("%d permits in %s (bound %d), per replica %d/%d/%d, %d conflicts retried",
		n, elapsed.Round(time.Millisecond), bound, len(per[0]), len(per[1]), len(per[2]), conflicts)
}

func TestSharedFeedbackOverNATSSlowsTheOtherReplica(t *testing.T) {
	ns := natstest.Start(t)
	cfg := Config{CallsPerMinute: 600}
	a := openShared(t, connect(ns), cfg, KVConfig{}, WithLogger(testLogger(t)))
	b := openShared(t, connect(ns), cfg, KVConfig{})
	if err := b.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := a.Feedback(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if err := b.Feedback(t.Context(), true); err != nil { // the same episode: no second cut
		t.Fatal(err)
	}
	if err := b.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := b.Rate(); r != 300 {
		t.Errorf("b's rate after a's 429: %v, want 300", r)
	}
	// Recovery from b's success reaches a too: a's own success climbs on
	// from the step b took.
	if err := b.Feedback(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if err := a.Feedback(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if r := a.Rate(); r != 420 {
		t.Errorf("a's rate after a success at b and one at a: %v, want 420", r)
	}
}

func TestSharedFailsClosedWhileNATSIsDown(t *testing.T) {
	ns := natstest.Start(t)
	l := openShared(t, connect(ns), Config{CallsPerMinute: 600},
		KVConfig{Timeout: 200 * time.Millisecond}, WithLogger(testLogger(t)))
	if err := l.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	ns.Stop()

	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := l.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("wait while NATS is down: %v, want DeadlineExceeded and ErrUnavailable", err)
	}
	if st := l.Stats(); st.Permits != 1 || st.StoreErrors == 0 {
		t.Errorf("stats %+v: want no permit during the outage and the failures counted", st)
	}

	// The same server comes back on the same port and store: the client
	// reconnects and permits resume.
	ns.Restart()
	ctx, cancel = context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("wait after NATS came back: %v", err)
	}
}

// An unused permit goes back into the shared key by compare-and-set: at
// one call a minute, a second replica cannot get a permit within a second
// until the first refunds its own, then it can; a refund after a cut
// gives back nothing.
func TestSharedRefundOverNATS(t *testing.T) {
	ns := natstest.Start(t)
	kvc := KVConfig{Bucket: "LIMITS_REFUND", Key: "hss_batch_scan"}
	cfg := Config{CallsPerMinute: 1, FloorPerMinute: 0.5}
	a := openShared(t, connect(ns), cfg, kvc, WithLogger(testLogger(t)))
	b := openShared(t, connect(ns), cfg, kvc, WithLogger(testLogger(t)))
	soon := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		return b.Wait(ctx)
	}

	p, err := a.Take(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := soon(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second replica within a second of a spent permit: %v, want a deadline error", err)
	}
	if err := p.Refund(t.Context()); err != nil {
		t.Fatalf("refund: %v", err)
	}
	if got := a.Stats().Refunds; got != 1 {
		t.Errorf("refunds %d, want 1", got)
	}
	if err := soon(); err != nil {
		t.Fatalf("second replica after the refund: %v", err)
	}

	// b's permit is spent now; a takes the next one after a cut: its
	// refund would reprice, so it is dropped.
	if err := b.Feedback(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	kv, err := connect(ns).KeyValue(t.Context(), kvc.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	before, err := kv.Get(t.Context(), kvc.Key)
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(before.Value(), &st); err != nil {
		t.Fatal(err)
	}
	stale := Permit{owner: a, slot: slot{tat: st.TAT, gen: st.Gen - 1}}
	if err := stale.Refund(t.Context()); err != nil {
		t.Fatal(err)
	}
	after, err := kv.Get(t.Context(), kvc.Key)
	if err != nil {
		t.Fatal(err)
	}
	if after.Revision() != before.Revision() {
		t.Errorf("a refund priced before the cut wrote the key: revision %d, was %d", after.Revision(), before.Revision())
	}
}
