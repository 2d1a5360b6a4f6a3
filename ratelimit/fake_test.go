package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeStore is an in-memory key with revisions, as a KV bucket with history
// 1 keeps one: each write gets the next sequence number. Its clock is
// time.Now, which inside a synctest bubble is the bubble's fake clock, so
// it stands for the NATS server's clock.
type fakeStore struct {
	mu     sync.Mutex
	value  []byte
	rev    uint64 // 0: the key does not exist
	seq    uint64
	down   bool // every operation fails with ErrUnavailable
	noTime bool // serverTime gives the zero time (an old server)
	// jitter, when set, is added to each serverTime reading: the error a
	// replica's clock estimate has when a round trip is lopsided.
	jitter func() time.Duration
	// conflicts makes the next n writes fail as if another replica had
	// written first.
	conflicts int
	gets      int
	writes    int
}

func (f *fakeStore) get(context.Context) ([]byte, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, 0, fmt.Errorf("%w: get: fake outage", ErrUnavailable)
	}
	f.gets++
	if f.rev == 0 {
		return nil, 0, errMissing
	}
	return append([]byte(nil), f.value...), f.rev, nil
}

func (f *fakeStore) create(_ context.Context, v []byte) (uint64, error) {
	return f.write(v, 0)
}

func (f *fakeStore) update(_ context.Context, v []byte, rev uint64) (uint64, error) {
	return f.write(v, rev)
}

func (f *fakeStore) write(v []byte, rev uint64) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return 0, fmt.Errorf("%w: write: fake outage", ErrUnavailable)
	}
	if f.conflicts > 0 {
		f.conflicts--
		f.seq++
		f.rev = f.seq // someone else wrote the same value
		return 0, errConflict
	}
	if rev != f.rev {
		return 0, errConflict
	}
	f.writes++
	f.seq++
	f.value, f.rev = append([]byte(nil), v...), f.seq
	return f.rev, nil
}

func (f *fakeStore) serverTime(context.Context) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return time.Time{}, fmt.Errorf("%w: status: fake outage", ErrUnavailable)
	}
	if f.noTime {
		return time.Time{}, nil
	}
	if f.jitter != nil {
		return time.Now().Add(f.jitter()), nil
	}
	return time.Now(), nil
}

func (f *fakeStore) set(fn func(*fakeStore)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// state decodes the stored value.
func (f *fakeStore) state(t *testing.T) state {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var s state
	if f.rev == 0 {
		return s
	}
	if err := json.Unmarshal(f.value, &s); err != nil {
		t.Fatalf("stored state %q: %v", f.value, err)
	}
	return s
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newFakeShared is a Shared on st whose local clock is off the store's by
// skew (a replica with a wrong clock).
func newFakeShared(t *testing.T, st store, cfg Config, skew time.Duration) *Shared {
	t.Helper()
	cfg, kvc := cfg.WithDefaults(), KVConfig{}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	o := buildOptions([]Option{WithLogger(testLogger(t)), withClock(func() time.Time { return time.Now().Add(skew) })})
	s, err := newShared(t.Context(), st, cfg, kvc, o)
	if err != nil {
		t.Fatalf("new shared limiter: %v", err)
	}
	return s
}

func newAdaptive(t *testing.T, cfg Config) *Adaptive {
	t.Helper()
	a, err := NewAdaptive(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatalf("new adaptive limiter: %v", err)
	}
	return a
}

// kinds builds the limiter under test fresh in each bubble: the behaviour
// of the AIMD rule is the same for both.
var kinds = []struct {
	name string
	make func(t *testing.T, cfg Config) Limiter
}{
	{"adaptive", func(t *testing.T, cfg Config) Limiter { return newAdaptive(t, cfg) }},
	{"shared", func(t *testing.T, cfg Config) Limiter { return newFakeShared(t, &fakeStore{}, cfg, 0) }},
}

// grants runs Wait in a loop on each limiter (per goroutines each) until
// d has passed, and returns the time of every permit, per limiter. Any
// error other than the end of d fails the test.
func grants(t *testing.T, lims []Limiter, per int, d time.Duration) [][]time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	out := make([][]time.Time, len(lims))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, l := range lims {
		for range per {
			wg.Go(func() {
				for {
					if err := l.Wait(ctx); err != nil {
						if ctx.Err() == nil && !isDeadline(err) {
							t.Errorf("limiter %d: wait: %v", i, err)
						}
						return
					}
					mu.Lock()
					out[i] = append(out[i], time.Now())
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return out
}

// maxInWindow is the largest number of times in any half-open window
// [t, t+w).
func maxInWindow(times []time.Time, w time.Duration) int {
	best := 0
	for i := range times {
		n := 0
		for _, u := range times[i:] {
			if u.Sub(times[i]) < w {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

// gaps is the time between consecutive times.
func gaps(times []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(times); i++ {
		out = append(out, times[i].Sub(times[i-1]))
	}
	return out
}

// windowBound is the most permits cfg's GCRA puts in any half-open
// minute: the burst, then one per interval.
func windowBound(cfg Config) int {
	t := cfg.interval(cfg.CallsPerMinute)
	return cfg.Burst - 1 + int((time.Minute+t-1)/t)
}

func isDeadline(err error) bool { return errors.Is(err, context.DeadlineExceeded) }

// merged is every time of ts in order.
func merged(ts [][]time.Time) []time.Time {
	var out []time.Time
	for _, x := range ts {
		out = append(out, x...)
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}
