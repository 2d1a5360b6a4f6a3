package ratelimit

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// The shared limiter on an in-memory store, on a fake clock: several
// replicas, their clocks, the store's failures.

func TestSharedReplicasTogetherKeepTheRate(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		skews []time.Duration // one replica per entry: its clock minus the server's
		want  int             // permits in 10 minutes less half a second, all replicas together
	}{
		// One permit every 12.24 s (60 s / 5 with the 2 % margin) from 0 to
		// 587.52 s; at 60/min, three at once, then one every 1.02 s.
		{"three replicas with true clocks", Config{CallsPerMinute: 5}, []time.Duration{0, 0, 0}, 49},
		{"clocks off by an hour either way", Config{CallsPerMinute: 5},
			[]time.Duration{time.Hour, -time.Hour, 0}, 49},
		{"clocks off by less than an interval", Config{CallsPerMinute: 5},
			[]time.Duration{5 * time.Second, -5 * time.Second, 0}, 49},
		{"four replicas, sixty a minute with a burst of three", Config{CallsPerMinute: 60, Burst: 3},
			[]time.Duration{0, 3 * time.Second, -time.Minute, 0}, 3 + 587},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := c.cfg.WithDefaults()
				st := &fakeStore{}
				var lims []Limiter
				for _, skew := range c.skews {
					lims = append(lims, newFakeShared(t, st, cfg, skew))
				}
				per := grants(t, lims, 2, 10*time.Minute-500*time.Millisecond)
				all := merged(per)
				if len(all) != c.want {
					t.Errorf("%d permits in all, want %d (one limiter's worth)", len(all), c.want)
				}
				if n, bound := maxInWindow(all, time.Minute), windowBound(cfg); n > bound {
					t.Errorf("%d permits in one minute, want at most %d", n, bound)
				}
				// Every replica gets its share: a replica whose clock is
				// ahead would otherwise take every slot (it sees the shared
				// TAT in the past) and one behind would starve.
				for i, p := range per {
					if min := len(all) / (2 * len(lims)); len(p) < min {
						t.Errorf("replica %d (clock %s off) got %d of %d permits, want at least %d",
							i, c.skews[i], len(p), len(all), min)
					}
				}
			})
		})
	}
}

func TestSharedFeedbackFromOneReplicaSlowsTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{}
		a := newFakeShared(t, st, Config{CallsPerMinute: 5}, 0)
		b := newFakeShared(t, st, Config{CallsPerMinute: 5}, time.Minute)
		start := time.Now()
		done := make(chan []time.Duration)
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			var got []time.Duration
			for b.Wait(ctx) == nil {
				got = append(got, time.Since(start))
			}
			done <- got
		}()
		time.Sleep(30 * time.Second)
		if err := a.Feedback(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		// b saw a 429 of its own a little later: the same episode, no
		// second cut.
		time.Sleep(10 * time.Second)
		if err := b.Feedback(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		got := <-done
		cut, halved := 30*time.Second, 24480*time.Millisecond // 60 s / 2.5 with the margin
		var after []time.Duration
		for _, g := range got {
			if g > cut {
				after = append(after, g)
			}
		}
		if len(after) == 0 || after[0] != cut+halved {
			t.Fatalf("b's permits %v: want the first after a's 429 (at %s) one new interval later", got, cut)
		}
		for i := 1; i < len(after); i++ {
			if d := after[i] - after[i-1]; d != halved {
				t.Fatalf("b's permits %v: gap %s after the cut, want %s", got, d, halved)
			}
		}
		if r := b.Rate(); r != 2.5 {
			t.Errorf("b's rate %v, want 2.5", r)
		}
		if s := st.state(t); s.Gen != 1 || s.Rate != 2.5 {
			t.Errorf("stored state %+v, want one cut to 2.5", s)
		}
	})
}

func TestSharedGrantsNothingWhileStoreIsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{}
		l := newFakeShared(t, st, Config{CallsPerMinute: 5}, 0)
		if err := l.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		before := st.state(t)
		st.set(func(f *fakeStore) { f.down = true })

		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		err := l.Wait(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("wait while the store is down: %v, want DeadlineExceeded and ErrUnavailable", err)
		}
		if s := l.Stats(); s.StoreErrors == 0 || s.Permits != 1 {
			t.Errorf("stats %+v, want store errors counted and no new permit", s)
		}
		if err := l.Feedback(t.Context(), true); !errors.Is(err, ErrUnavailable) {
			t.Errorf("feedback while the store is down: %v, want ErrUnavailable", err)
		}

		st.set(func(f *fakeStore) { f.down = false })
		if s := st.state(t); s != before {
			t.Fatalf("state changed during the outage: %+v, was %+v", s, before)
		}
		if err := l.Wait(t.Context()); err != nil {
			t.Fatalf("wait once the store is back: %v", err)
		}
	})
}

func TestSharedRetriesConflicts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{}
		l := newFakeShared(t, st, Config{CallsPerMinute: 5}, 0)
		st.set(func(f *fakeStore) { f.conflicts = 7 })
		if err := l.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		if s := l.Stats(); s.Conflicts != 7 || s.Permits != 1 {
			t.Errorf("stats %+v, want 7 conflicts retried and 1 permit", s)
		}
		if st.writes != 1 {
			t.Errorf("%d writes stored, want 1", st.writes)
		}
	})
}

func TestSharedStartsFromMissingOrUnreadableState(t *testing.T) {
	cases := []struct {
		name   string
		stored []byte // nil: no key
		// want is when the first permit comes: at once on a fresh key, one
		// interval later on a damaged one (a call may just have been made).
		want time.Duration
	}{
		{"missing key is created", nil, 0},
		{"unreadable value is replaced", []byte("not json"), 12240 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &fakeStore{}
				if c.stored != nil {
					st.value, st.rev, st.seq = c.stored, 1, 1
				}
				l := newFakeShared(t, st, Config{CallsPerMinute: 5}, 0)
				start := time.Now()
				if err := l.Wait(t.Context()); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d != c.want {
					t.Errorf("first permit after %s, want %s", d, c.want)
				}
				if s, want := st.state(t), start.Add(c.want+12240*time.Millisecond); !s.TAT.Equal(want) {
					t.Errorf("stored TAT %s, want %s", s.TAT, want)
				}
			})
		})
	}
}

func TestSharedCancelledWaitGivesSlotBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{}
		a := newFakeShared(t, st, Config{CallsPerMinute: 5}, 0)
		b := newFakeShared(t, st, Config{CallsPerMinute: 5}, 0)
		start := time.Now()
		if err := a.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- a.Wait(ctx) }() // reserves 12.24 s
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait: %v", err)
		}
		synctest.Wait() // the slot is given back in the background
		if err := b.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 12240*time.Millisecond {
			t.Fatalf("b's permit at %s, want 12.24s (the cancelled slot)", d)
		}
	})
}

func TestSharedMeasuresServerClock(t *testing.T) {
	cases := []struct {
		name   string
		skew   time.Duration
		noTime bool
		want   time.Duration
	}{
		{"clock an hour ahead", time.Hour, false, -time.Hour},
		{"clock a day behind", -24 * time.Hour, false, 24 * time.Hour},
		{"a server that gives no time leaves the local clock", time.Hour, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &fakeStore{noTime: c.noTime}
				l := newFakeShared(t, st, Config{}, c.skew)
				if s := l.Stats(); s.ClockOffset != c.want || s.ClockUncertainty != 0 {
					t.Errorf("offset %s ± %s, want %s ± 0", s.ClockOffset, s.ClockUncertainty, c.want)
				}
			})
		})
	}
}

func TestOpenFailsWhenStoreIsDown(t *testing.T) {
	st := &fakeStore{down: true}
	o := buildOptions(nil)
	if _, err := newShared(t.Context(), st, Config{}.WithDefaults(), KVConfig{}.WithDefaults(), o); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("open on a store that is down: %v, want ErrUnavailable", err)
	}
}
