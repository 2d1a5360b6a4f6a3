package ratelimit

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// The quota's edge and the way back from a 429, on a fake clock: replicas
// whose clock estimates wander and whose calls reach the gateway a little
// late, in front of the strictest gateway "five calls per minute" allows.

// strictWindow is that gateway: a call is refused (429) when the 60
// seconds before it, both ends included, already hold quota admitted calls.
// A call exactly a minute after the first of five is refused.
type strictWindow struct {
	mu       sync.Mutex
	quota    int
	admitted []time.Time
	refused  int
}

// call reports whether a call arriving now is admitted.
func (w *strictWindow) call(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for i := len(w.admitted) - 1; i >= 0 && !w.admitted[i].Before(now.Add(-time.Minute)); i-- {
		n++
	}
	if n >= w.quota {
		w.refused++
		return false
	}
	w.admitted = append(w.admitted, now)
	return true
}

// jitter draws durations in [lo, hi) from one seeded source, so a run is
// the same every time; safe for concurrent use.
type jitter struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func newJitter(seed uint64) *jitter { return &jitter{rng: rand.New(rand.NewPCG(seed, seed))} }

func (j *jitter) between(lo, hi time.Duration) time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	return lo + time.Duration(j.rng.Int64N(int64(hi-lo)))
}

func TestNoSlidingMinuteHoldsMoreThanTheQuota(t *testing.T) {
	// The jitter: each replica's estimate of the server's clock is off by
	// up to ±100 ms (re-measured every 30 s), and a call reaches the
	// gateway 0-500 ms after its permit (signing, a new connection, the
	// network). Two calls a minute apart can thus come up to 700 ms
	// closer than their slots; the margin gives 1.2 s.
	const (
		replicas  = 3
		perCaller = 2 // hss.max_concurrent
		clockErr  = 100 * time.Millisecond
		latency   = 500 * time.Millisecond
		answer    = 300 * time.Millisecond
		run       = 30 * time.Minute
	)
	cases := []struct {
		name   string
		margin float64
		// refusals: whether the strict window refuses any call.
		refusals bool
	}{
		{"the default 2 % margin absorbs the jitter", 0, false},
		{"without a margin the strict window refuses", 1e-9, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				j := newJitter(7)
				st := &fakeStore{jitter: func() time.Duration { return j.between(-clockErr, clockErr) }}
				cfg := Config{CallsPerMinute: 5, Margin: c.margin}.WithDefaults()
				gw := &strictWindow{quota: 5}
				ctx, cancel := context.WithTimeout(t.Context(), run)
				defer cancel()
				var lims []*Shared
				var wg sync.WaitGroup
				for range replicas {
					l := newFakeShared(t, st, cfg, 0)
					lims = append(lims, l)
					for range perCaller {
						wg.Go(func() {
							for l.Wait(ctx) == nil {
								time.Sleep(j.between(0, latency))
								ok := gw.call(time.Now())
								time.Sleep(answer)
								if err := l.Feedback(context.WithoutCancel(ctx), !ok); err != nil {
									t.Errorf("feedback: %v", err)
								}
							}
						})
					}
				}
				wg.Wait()

				admitted := len(gw.admitted)
				t.Logf("margin %.3g: %d calls admitted, %d refused in %s", cfg.Margin, admitted, gw.refused, run)
				if !c.refusals {
					if gw.refused != 0 {
						t.Errorf("%d calls refused by the strict window, want none", gw.refused)
					}
					// The margin costs 2 % of the quota, nothing more: 30
					// minutes hold 148 slots of 12.24 s.
					if want := 145; admitted < want {
						t.Errorf("%d calls admitted in %s, want at least %d", admitted, run, want)
					}
					for i, l := range lims {
						if r := l.Rate(); r != cfg.CallsPerMinute {
							t.Errorf("replica %d runs at %v/min, want the ceiling %v", i, r, cfg.CallsPerMinute)
						}
					}
				}
				if c.refusals && gw.refused == 0 {
					t.Error("no call refused: the jitter does not reach the edge, so this test proves nothing")
				}
			})
		})
	}
}

// TestRecoveryAfterA429 checks the curve ratelimit/doc.go documents: the
// rate after each clean call following the last 429, and when it is back
// at the ceiling.
func TestRecoveryAfterA429(t *testing.T) {
	cases := []struct {
		name string
		// spent is how long someone else holds the whole quota from the
		// start: every call before it is refused.
		spent time.Duration
		// curve is the rate after each clean call, the last at the ceiling.
		curve []float64
		// back is the most time from the first clean call to the ceiling.
		back time.Duration
	}{
		{"one 429 at the ceiling", time.Nanosecond, []float64{3, 3.5, 4, 4.5, 5}, 67 * time.Second},
		{"a quota spent elsewhere for ten minutes, down to the floor", 10 * time.Minute,
			[]float64{0.7, 1.2, 1.7, 2.2, 2.7, 3.2, 3.7, 4.2, 4.7, 5}, 289 * time.Second},
	}
	for _, k := range kinds {
		for _, c := range cases {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					cfg := Config{CallsPerMinute: 5}.WithDefaults()
					l := k.make(t, cfg)
					start := time.Now()
					var curve []float64
					var lastRefused, firstClean, atCeiling time.Duration
					for atCeiling == 0 {
						if err := l.Wait(t.Context()); err != nil {
							t.Fatal(err)
						}
						at := time.Since(start)
						refused := at < c.spent
						if err := l.Feedback(t.Context(), refused); err != nil {
							t.Fatal(err)
						}
						switch r := l.Rate(); {
						case refused:
							lastRefused = at
						case len(curve) == 0:
							firstClean = at
							fallthrough
						default:
							curve = append(curve, r)
							if r == cfg.CallsPerMinute {
								atCeiling = at
							}
						}
						if len(curve) > 20 {
							t.Fatalf("no ceiling after 20 clean calls: %v", curve)
						}
					}
					t.Logf("last 429 at %s, first clean call at %s, back at %v/min at %s; rates %v",
						lastRefused, firstClean, cfg.CallsPerMinute, atCeiling, curve)
					if !slices.Equal(curve, c.curve) {
						t.Errorf("rate after each clean call %v, want %v", curve, c.curve)
					}
					if d := atCeiling - firstClean; d > c.back {
						t.Errorf("back at the ceiling %s after the first clean call, want at most %s", d, c.back)
					}
				})
			})
		}
	}
}
