package ratelimit

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestReserve(t *testing.T) {
	five := Config{CallsPerMinute: 5}.WithDefaults()
	burst3 := Config{CallsPerMinute: 60, Burst: 3}.WithDefaults()
	cases := []struct {
		name    string
		cfg     Config
		st      state
		now     time.Time
		wantAt  time.Time
		wantTAT time.Time
	}{
		// Intervals are 60 s / rate stretched by the 2 % margin: 12.24 s at
		// 5/min, 1.02 s at 60/min.
		{"a fresh key goes at once", five, state{}, t0, t0, t0.Add(ms(12240))},
		{"an idle limiter goes at once", five, state{TAT: t0.Add(-time.Hour), Rate: 5}, t0, t0, t0.Add(ms(12240))},
		{"a busy one waits for its slot", five, state{TAT: t0.Add(7 * time.Second), Rate: 5}, t0,
			t0.Add(7 * time.Second), t0.Add(ms(19240))},
		{"slots queue one interval apart", five, state{TAT: t0.Add(36 * time.Second), Rate: 5}, t0,
			t0.Add(36 * time.Second), t0.Add(ms(48240))},
		{"a halved rate spaces by 24.48 s", five, state{TAT: t0, Rate: 2.5}, t0, t0, t0.Add(ms(24480))},
		{"the margin is the configured one", Config{CallsPerMinute: 5, Margin: 0.1}.WithDefaults(), state{}, t0, t0, t0.Add(ms(13200))},
		{"the burst goes at once at the ceiling", burst3, state{TAT: t0.Add(2 * time.Second), Rate: 60}, t0,
			t0, t0.Add(ms(3020))},
		{"beyond the burst the next waits", burst3, state{TAT: t0.Add(3 * time.Second), Rate: 60}, t0,
			t0.Add(ms(960)), t0.Add(ms(4020))},
		{"below the ceiling there is no burst", burst3, state{TAT: t0.Add(2 * time.Second), Rate: 30}, t0,
			t0.Add(2 * time.Second), t0.Add(ms(4040))},
		{"a stored rate above this ceiling is clamped", five, state{TAT: t0, Rate: 600}, t0, t0, t0.Add(ms(12240))},
		{"a stored rate below the floor is raised to it", five, state{TAT: t0, Rate: 0.01}, t0, t0, t0.Add(5*time.Minute + 6*time.Second)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next, at := c.cfg.reserve(c.st, c.now)
			if !at.Equal(c.wantAt) || !next.TAT.Equal(c.wantTAT) {
				t.Errorf("at %s, TAT %s; want at %s, TAT %s", at.Sub(t0), next.TAT.Sub(t0), c.wantAt.Sub(t0), c.wantTAT.Sub(t0))
			}
			if next.Gen != c.st.Gen || next.OK != c.st.OK || !next.Cut.Equal(c.st.Cut) {
				t.Errorf("reserve changed the adaptive fields: %+v from %+v", next, c.st)
			}
		})
	}
}

func TestThrottled(t *testing.T) {
	cfg := Config{CallsPerMinute: 5}.WithDefaults()
	cases := []struct {
		name        string
		st          state
		wantChanged bool
		wantRate    float64
		wantTAT     time.Time
	}{
		{"the first 429 halves the ceiling and pauses one new interval", state{TAT: t0.Add(5 * time.Second)}, true, 2.5, t0.Add(ms(24480))},
		{"a TAT already later than the pause stays", state{TAT: t0.Add(time.Minute), Rate: 5}, true, 2.5, t0.Add(time.Minute)},
		{"within the holdoff nothing changes", state{Rate: 2.5, Cut: t0.Add(-59 * time.Second), Gen: 1}, false, 2.5, time.Time{}},
		{"a cut stamped in the future (leader clock skew) counts as recent", state{Rate: 2.5, Cut: t0.Add(time.Second), Gen: 1}, false, 2.5, time.Time{}},
		{"after the holdoff it halves again", state{Rate: 2.5, Cut: t0.Add(-time.Minute), Gen: 1}, true, 1.25, t0.Add(ms(48960))},
		{"never below the floor", state{Rate: 0.3, Cut: t0.Add(-time.Hour), Gen: 4}, true, 0.2, t0.Add(5*time.Minute + 6*time.Second)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next, changed := cfg.throttled(c.st, t0)
			if changed != c.wantChanged || cfg.current(next) != c.wantRate {
				t.Fatalf("changed %v, rate %v; want %v, %v", changed, cfg.current(next), c.wantChanged, c.wantRate)
			}
			if !changed {
				if next != c.st {
					t.Errorf("unchanged state was modified: %+v", next)
				}
				return
			}
			if !next.TAT.Equal(c.wantTAT) || !next.Cut.Equal(t0) || next.Gen != c.st.Gen+1 || next.OK != 0 {
				t.Errorf("state %+v; want TAT %s, cut now, gen %d, ok 0", next, c.wantTAT.Sub(t0), c.st.Gen+1)
			}
		})
	}
}

func TestSucceeded(t *testing.T) {
	def := Config{CallsPerMinute: 5}.WithDefaults()
	run5 := Config{CallsPerMinute: 5, IncreaseAfter: 5}.WithDefaults()
	cases := []struct {
		name        string
		cfg         Config
		st          state
		wantChanged bool
		wantRate    float64
		wantOK      int
		wantTAT     time.Time
	}{
		{"at the ceiling nothing changes", def, state{Rate: 5, TAT: t0}, false, 5, 0, t0},
		{"a fresh key is at the ceiling", def, state{}, false, 5, 0, time.Time{}},
		// The slot after the last one was priced at 24.48 s (2.5/min); at
		// 3/min it is 20.4 s after it.
		{"below it every success adds a step and brings the next slot closer", def,
			state{Rate: 2.5, TAT: t0.Add(ms(24480))}, true, 3, 0, t0.Add(ms(20400))},
		{"the last step stops at the ceiling", def, state{Rate: 4.8}, true, 5, 0, time.Time{}},
		{"with a run of five a success is counted", run5, state{Rate: 2.5, OK: 1, TAT: t0}, true, 2.5, 2, t0},
		{"and the fifth in a row adds a step", run5, state{Rate: 2.5, OK: 4, TAT: t0}, true, 3, 0, t0.Add(-ms(4080))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next, changed := c.cfg.succeeded(c.st)
			if changed != c.wantChanged || c.cfg.current(next) != c.wantRate || next.OK != c.wantOK {
				t.Errorf("changed %v, rate %v, ok %d; want %v, %v, %d",
					changed, c.cfg.current(next), next.OK, c.wantChanged, c.wantRate, c.wantOK)
			}
			if !next.TAT.Equal(c.wantTAT) {
				t.Errorf("TAT %s, want %s", next.TAT, c.wantTAT)
			}
		})
	}
}

func TestClockSyncKeepsShortestRoundTrip(t *testing.T) {
	var c clockSync
	if !c.due(t0, time.Second) {
		t.Fatal("a clock never measured must be due")
	}
	// server = local + 10 s; each sample's server stamp is taken at some
	// point of its round trip, so its error is within half of it.
	c.add(t0, t0.Add(ms(400)), t0.Add(10*time.Second+ms(100)))                      // rtt 400 ms, off by -100 ms
	c.add(t0.Add(time.Second), t0.Add(ms(1020)), t0.Add(10*time.Second+ms(1015)))   // rtt 20 ms, off by +5 ms
	c.add(t0.Add(2*time.Second), t0.Add(ms(2200)), t0.Add(10*time.Second+ms(2200))) // rtt 200 ms
	off, unc := c.offset()
	if off != 10*time.Second+5*time.Millisecond || unc != 10*time.Millisecond {
		t.Errorf("offset %s ± %s, want 10.005s ± 10ms (the 20 ms sample)", off, unc)
	}
	if c.due(t0.Add(ms(2500)), time.Second) || !c.due(t0.Add(ms(3300)), time.Second) {
		t.Error("due must follow the refresh interval from the last sample")
	}
	if !c.due(t0, time.Second) {
		t.Error("a local clock gone backwards must be due")
	}
	// The best sample ages out after four newer ones.
	for i := range 4 {
		at := t0.Add(time.Duration(3+i) * time.Second)
		c.add(at, at.Add(ms(100)), at.Add(10*time.Second+ms(50)))
	}
	if off, unc := c.offset(); off != 10*time.Second || unc != 50*time.Millisecond {
		t.Errorf("after four newer samples: %s ± %s, want 10s ± 50ms", off, unc)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		kv   KVConfig
		want string // "" for valid
	}{
		{"defaults are valid", Config{}, KVConfig{}, ""},
		{"a negative rate", Config{CallsPerMinute: -1}, KVConfig{}, "calls_per_minute"},
		{"a floor above the ceiling", Config{CallsPerMinute: 5, FloorPerMinute: 6}, KVConfig{}, "floor_per_minute"},
		{"a negative burst", Config{Burst: -2}, KVConfig{}, "burst"},
		{"a negative step", Config{IncreaseStep: -1}, KVConfig{}, "increase_step"},
		{"a negative run", Config{IncreaseAfter: -1}, KVConfig{}, "increase_after"},
		{"a negative holdoff", Config{Holdoff: -time.Second}, KVConfig{}, "holdoff"},
		{"a margin of a whole interval", Config{Margin: 1}, KVConfig{}, "margin"},
		{"a negative margin", Config{Margin: -0.01}, KVConfig{}, "margin"},
		{"a bucket with a dot", Config{}, KVConfig{Bucket: "a.b"}, "bucket"},
		{"a key with a space", Config{}, KVConfig{Key: "hss batch"}, "key"},
		{"a key ending in a dot", Config{}, KVConfig{Key: "hss."}, "key"},
		{"dotted keys are fine", Config{}, KVConfig{Key: "hss.batch_scan.user-1"}, ""},
		{"six replicas", Config{}, KVConfig{Replicas: 6}, "replicas"},
		{"a negative timeout", Config{}, KVConfig{Timeout: -time.Second}, "timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.WithDefaults().Validate()
			if kerr := c.kv.WithDefaults().Validate(); err == nil {
				err = kerr
			}
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v, want one naming %s", err, c.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	got := Config{}.WithDefaults()
	want := Config{CallsPerMinute: 5, Burst: 1, FloorPerMinute: 0.2, IncreaseStep: 0.5, IncreaseAfter: 1, Margin: 0.02, Holdoff: time.Minute}
	if got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	if low := (Config{CallsPerMinute: 0.1}).WithDefaults(); low.FloorPerMinute != 0.1 {
		t.Errorf("floor %v for a ceiling of 0.1, want the ceiling", low.FloorPerMinute)
	}
}

func TestRaisedCeilingIsNotACut(t *testing.T) {
	low := Config{CallsPerMinute: 30}.WithDefaults()
	s, _ := low.reserve(state{}, time.Unix(0, 0))
	high := Config{CallsPerMinute: 600}.WithDefaults()
	if r := high.current(s); r != 600 {
		t.Fatalf("a state written at the old ceiling of 30/min runs at %v/min under a new ceiling of 600, want 600", r)
	}
	cut, _ := low.throttled(s, time.Unix(0, 0))
	if r := high.current(cut); r != 15 {
		t.Fatalf("a real cut to 15/min must survive a raised ceiling, got %v", r)
	}
}
