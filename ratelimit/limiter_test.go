package ratelimit

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
)

// The behaviour both limiters promise, each run on a fake clock
// (testing/synctest): no test sleeps, and every time below is exact.

func TestSteadyStateStaysAtConfiguredRate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		// want is the number of permits in 10 minutes less half a second
		// (a deadline on a slot's instant would race the slot's timer):
		// the burst at once, then one per interval (60 s / rate, stretched
		// by the 2 % margin).
		want int
	}{
		{"five a minute with a burst of one is a call every 12.24 s", Config{CallsPerMinute: 5}, 49},
		{"sixty a minute with a burst of three", Config{CallsPerMinute: 60, Burst: 3}, 3 + 587},
	}
	for _, k := range kinds {
		for _, c := range cases {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					cfg := c.cfg.WithDefaults()
					l := k.make(t, cfg)
					ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute-500*time.Millisecond)
					defer cancel()
					var got []time.Time
					for l.Wait(ctx) == nil {
						got = append(got, time.Now())
						if err := l.Feedback(ctx, false); err != nil {
							t.Fatalf("feedback: %v", err)
						}
						if r := l.Rate(); r != cfg.CallsPerMinute {
							t.Fatalf("rate %v after %d successes, want the ceiling %v", r, len(got), cfg.CallsPerMinute)
						}
					}
					if len(got) != c.want {
						t.Errorf("%d permits, want %d", len(got), c.want)
					}
					for i, g := range gaps(got) {
						if want := cfg.interval(cfg.CallsPerMinute); i >= cfg.Burst-1 && g != want {
							t.Fatalf("gap %d is %s, want %s", i, g, want)
						}
					}
					if n, bound := maxInWindow(got, time.Minute), windowBound(cfg); n > bound {
						t.Errorf("%d permits in one minute, want at most %d", n, bound)
					}
				})
			})
		}
	}
}

func TestFeedbackMovesRate(t *testing.T) {
	type step struct {
		after     time.Duration // since the previous step
		throttled bool
		times     int // reports of this outcome (1 if 0)
		want      float64
	}
	five := Config{CallsPerMinute: 5}
	run5 := Config{CallsPerMinute: 5, IncreaseAfter: 5}
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"a 429 halves the rate", five, []step{{0, true, 1, 2.5}}},
		{"a second 429 within the holdoff changes nothing", five, []step{{0, true, 1, 2.5}, {59 * time.Second, true, 1, 2.5}}},
		{"a 429 after the holdoff halves again", five, []step{{0, true, 1, 2.5}, {time.Minute, true, 1, 1.25}}},
		{"429s stop at the floor of one call in 5 minutes", five, []step{
			{0, true, 1, 2.5}, {time.Minute, true, 1, 1.25}, {time.Minute, true, 1, 0.625},
			{time.Minute, true, 1, 0.3125}, {time.Minute, true, 1, 0.2}, {time.Minute, true, 1, 0.2}}},
		{"every success climbs back a tenth of the ceiling", five, []step{
			{0, true, 1, 2.5}, {time.Second, false, 1, 3}, {time.Second, false, 1, 3.5},
			{time.Second, false, 1, 4}, {time.Second, false, 1, 4.5}, {time.Second, false, 1, 5}}},
		{"recovery stops at the ceiling, never above", five, []step{
			{0, true, 1, 2.5}, {time.Second, false, 25, 5}, {time.Second, false, 100, 5}}},
		{"a 429 during the climb halves the rate climbed to", five, []step{
			{0, true, 1, 2.5}, {time.Second, false, 2, 3.5}, {time.Minute, true, 1, 1.75},
			{time.Second, false, 1, 2.25}}},
		{"with a run of five, successes climb by a step every five", run5, []step{
			{0, true, 1, 2.5}, {time.Second, false, 4, 2.5}, {time.Second, false, 1, 3},
			{time.Second, false, 5, 3.5}, {time.Second, false, 10, 4.5}}},
		{"with a run of five, a 429 resets the run", run5, []step{
			{0, true, 1, 2.5}, {time.Second, false, 4, 2.5}, {time.Minute, true, 1, 1.25},
			{time.Second, false, 4, 1.25}, {time.Second, false, 1, 1.75}}},
		{"successes at the ceiling change nothing", five, []step{{0, false, 50, 5}}},
	}
	for _, k := range kinds {
		for _, c := range cases {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					l := k.make(t, c.cfg)
					for i, s := range c.steps {
						time.Sleep(s.after)
						for range max(s.times, 1) {
							if err := l.Feedback(t.Context(), s.throttled); err != nil {
								t.Fatalf("step %d: feedback: %v", i, err)
							}
						}
						if got := l.Rate(); got != s.want {
							t.Fatalf("step %d: rate %v, want %v", i, got, s.want)
						}
					}
				})
			})
		}
	}
}

func TestThrottledPausesAndSpacesCallsAtTheNewRate(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := k.make(t, Config{CallsPerMinute: 5})
				start := time.Now()
				if err := l.Wait(t.Context()); err != nil {
					t.Fatal(err)
				}
				if err := l.Feedback(t.Context(), true); err != nil {
					t.Fatal(err)
				}
				for _, want := range []time.Duration{ms(24480), ms(48960), ms(73440)} {
					if err := l.Wait(t.Context()); err != nil {
						t.Fatal(err)
					}
					if got := time.Since(start); got != want {
						t.Fatalf("permit at %s, want %s (one call every 24.48 s after the cut)", got, want)
					}
				}
			})
		})
	}
}

func TestCutDelaysWaitersAlreadyQueued(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := k.make(t, Config{CallsPerMinute: 5})
				start := time.Now()
				done := make(chan struct{})
				var got []time.Duration
				go func() {
					defer close(done)
					ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
					defer cancel()
					for l.Wait(ctx) == nil {
						got = append(got, time.Since(start))
					}
				}()
				// Permits at 0, 12.24 and 24.48 s; the next one is reserved
				// for 36.72 s when the 429 comes at 30 s.
				time.Sleep(30 * time.Second)
				if err := l.Feedback(t.Context(), true); err != nil {
					t.Fatal(err)
				}
				<-done
				cut := 30 * time.Second
				var after []time.Duration
				for _, g := range got {
					if g > cut {
						after = append(after, g)
					}
				}
				if len(after) == 0 || after[0] < cut+ms(24480) {
					t.Fatalf("permits %v: the first after the 429 at %s must wait one new interval (24.48 s)", got, cut)
				}
				for i := 1; i < len(after); i++ {
					if d := after[i] - after[i-1]; d < ms(24480) {
						t.Fatalf("permits %v: gap %s after the cut, want >= 24.48s", got, d)
					}
				}
			})
		})
	}
}

func TestWaitReturnsPromptlyOnCancel(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := k.make(t, Config{CallsPerMinute: 5})
				if err := l.Wait(t.Context()); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				errc := make(chan error, 1)
				go func() { errc <- l.Wait(ctx) }()
				synctest.Wait() // the waiter is asleep until 12.24 s
				cancelled := time.Now()
				cancel()
				err := <-errc
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("wait after cancel: %v, want context.Canceled", err)
				}
				if d := time.Since(cancelled); d != 0 {
					t.Fatalf("wait returned %s after cancel, want at once", d)
				}
			})
		})
	}
}

func TestWaitRefusesSlotPastDeadlineAtOnce(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := k.make(t, Config{CallsPerMinute: 5})
				start := time.Now()
				if err := l.Wait(t.Context()); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("wait with 5 s for a slot 12.24 s away: %v, want DeadlineExceeded", err)
				}
				if d := time.Since(start); d != 0 {
					t.Fatalf("refused after %s, want at once", d)
				}
				// The refused wait took no slot: the next one is still at 12.24 s.
				if err := l.Wait(t.Context()); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d != ms(12240) {
					t.Fatalf("next permit at %s, want 12.24s", d)
				}
			})
		})
	}
}

func TestWaitWithDoneContextGrantsNothing(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := k.make(t, Config{CallsPerMinute: 5})
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
					t.Fatalf("wait on a cancelled ctx: %v, want context.Canceled", err)
				}
				start := time.Now()
				if err := l.Wait(t.Context()); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d != 0 {
					t.Fatalf("first real permit after %s, want at once", d)
				}
			})
		})
	}
}

// Both limiters are what hssclient and scanner.HSS wait on.
var (
	_ hssclient.Pacer = (*Adaptive)(nil)
	_ hssclient.Pacer = (*Shared)(nil)
)
