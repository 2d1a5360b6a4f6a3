package ratelimit

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// Refunds on a fake clock, for both limiters: an unused permit comes back
// at once, a late or repriced one does not, and no refund lets a sliding
// minute hold more calls than the quota.
func TestRefund(t *testing.T) {
	const iv = 12240 * time.Millisecond // 60 s / 5, stretched by 2 %
	cases := []struct {
		name string
		// run takes permits and refunds some; it returns how long the
		// next Take waits.
		run  func(t *testing.T, l Taker) time.Duration
		want time.Duration
	}{
		{"an unused permit refunded at once frees its slot", func(t *testing.T, l Taker) time.Duration {
			refund(t, l, take(t, l))
			return next(t, l)
		}, 0},
		{"two refunds in a row: both slots back", func(t *testing.T, l Taker) time.Duration {
			refund(t, l, take(t, l))
			refund(t, l, take(t, l))
			return next(t, l)
		}, 0},
		{"a permit refunded after another was granted still comes back", func(t *testing.T, l Taker) time.Duration {
			p := take(t, l)
			time.Sleep(iv) // the second slot
			take(t, l)     // used
			refund(t, l, p)
			return next(t, l)
		}, iv},
		{"a refund after an idle spell gives back nothing", func(t *testing.T, l Taker) time.Duration {
			p := take(t, l)
			time.Sleep(100 * time.Second)
			take(t, l) // used, on an idle limiter: the slot starts now
			refund(t, l, p)
			return next(t, l)
		}, iv},
		{"a refund part-way through the interval gives back the rest", func(t *testing.T, l Taker) time.Duration {
			take(t, l) // used
			time.Sleep(iv)
			p := take(t, l)
			time.Sleep(5 * time.Second)
			refund(t, l, p)
			return next(t, l)
		}, 0},
		{"a cut since the grant drops the refund", func(t *testing.T, l Taker) time.Duration {
			p := take(t, l)
			if err := l.Feedback(t.Context(), true); err != nil {
				t.Fatal(err)
			}
			refund(t, l, p)
			return next(t, l)
		}, 2 * iv},
		{"the zero permit refunds nothing", func(t *testing.T, l Taker) time.Duration {
			take(t, l)
			refund(t, l, Permit{})
			return next(t, l)
		}, iv},
	}
	for _, k := range kinds {
		for _, c := range cases {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					l := k.make(t, Config{}.WithDefaults()).(Taker)
					if got := c.run(t, l); got != c.want {
						t.Errorf("next permit after %s, want %s", got, c.want)
					}
				})
			})
		}
	}
}

// A burst of permits each refunded as unused, then used ones: the used
// ones keep the quota's spacing exactly, as if the unused ones never were.
func TestRefundedBurstKeepsTheQuota(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := k.make(t, Config{}.WithDefaults()).(Taker)
				start := time.Now()
				for range 20 {
					refund(t, l, take(t, l))
				}
				var used []time.Duration
				for range 6 {
					take(t, l)
					used = append(used, time.Since(start))
				}
				want := []time.Duration{0, 12240 * time.Millisecond, 24480 * time.Millisecond,
					36720 * time.Millisecond, 48960 * time.Millisecond, 61200 * time.Millisecond}
				for i := range want {
					if used[i] != want[i] {
						t.Fatalf("used permits at %v, want %v", used, want)
					}
				}
			})
		})
	}
}

func take(t *testing.T, l Taker) Permit {
	t.Helper()
	p, err := l.Take(t.Context())
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	return p
}

func refund(t *testing.T, _ Taker, p Permit) {
	t.Helper()
	if err := p.Refund(t.Context()); err != nil {
		t.Fatalf("refund: %v", err)
	}
}

// next is how long the next Take waits.
func next(t *testing.T, l Taker) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	if _, err := l.Take(ctx); err != nil {
		t.Fatalf("take: %v", err)
	}
	return time.Since(start)
}

// A waiter that reserved its slot while an unused permit was out (the
// consumer asks for the next permit while a call is being prepared) moves
// its slot back when that permit is refunded: it does not wait for a call
// that was never made. A waiter after a cut does not.
func TestRefundWakesTheWaiters(t *testing.T) {
	const iv = 12240 * time.Millisecond
	cases := []struct {
		name string
		cut  bool
		want time.Duration
	}{
		{"a refund moves the waiting slot back", false, 0},
		{"after a cut the waiter keeps its slot", true, -1},
	}
	for _, k := range kinds {
		for _, c := range cases {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					l := k.make(t, Config{}.WithDefaults()).(Taker)
					start := time.Now()
					p := take(t, l)
					got := make(chan time.Duration, 1)
					go func() {
						take(t, l)
						got <- time.Since(start)
					}()
					synctest.Wait() // the waiter reserved the second slot
					if c.cut {
						if err := l.Feedback(t.Context(), true); err != nil {
							t.Fatal(err)
						}
					}
					refund(t, l, p)
					took := <-got
					if c.want >= 0 && took != c.want {
						t.Errorf("waiter granted after %s, want %s", took, c.want)
					}
					if c.want < 0 && took < iv {
						t.Errorf("waiter granted after %s, want at least one interval", took)
					}
				})
			})
		}
	}
}
