package ratelimit

import (
	"math"
	"time"
)

// state is a limiter's whole state. The shared limiter stores it as JSON in
// one KV key, so a 429 seen by one replica slows them all; the local one
// keeps it in memory, on the local clock. Times are on the NATS server's clock for the shared
// limiter and RFC 3339 in JSON, so `nats kv get` shows something readable.
type state struct {
	// TAT is the GCRA's theoretical arrival time: when the next call
	// would be due if calls came exactly at the current rate.
	TAT time.Time `json:"tat,omitzero"`
	// Rate is the current rate in calls per minute; 0 means the ceiling
	// (a fresh key).
	Rate float64 `json:"rate,omitzero"`
	// OK counts the successes since the rate last changed.
	OK int `json:"ok,omitzero"`
	// Cut is when the rate was last halved.
	Cut time.Time `json:"cut,omitzero"`
	// Gen counts the cuts. A reservation taken under an older Gen was
	// priced at a rate the gateway has since refused, so it is taken again.
	Gen uint64 `json:"gen,omitzero"`
}

// interval is the time between calls at perMinute: a minute divided
// among them, stretched by the margin (DefaultMargin says why), rounded to
// the nanosecond so that slots are exact multiples.
func (c Config) interval(perMinute float64) time.Duration {
	return time.Duration(math.Round(float64(time.Minute) / perMinute * (1 + c.Margin)))
}

// current is the rate s runs at: its own, clamped to [floor, ceiling]. A
// stored rate above this replica's ceiling (another replica configured
// higher, or a rolling config change) is clamped, never obeyed.
func (c Config) current(s state) float64 {
	r := s.Rate
	if r <= 0 || r > c.CallsPerMinute {
		r = c.CallsPerMinute
	}
	return max(r, c.FloorPerMinute)
}

// burst is the burst at rate r: the configured one at the ceiling, 1 below
// it, since bursting while the gateway refuses us is the opposite of what
// a 429 asks for.
func (c Config) burst(r float64) int {
	if r >= c.CallsPerMinute {
		return c.Burst
	}
	return 1
}

// reserve is one GCRA step (the generic cell rate algorithm, ITU-T I.371;
// https://en.wikipedia.org/wiki/Generic_cell_rate_algorithm): the call
// asked for at now may go at `at`, and s advances by one interval. With
// burst B the tolerance is (B-1) intervals, so after a quiet spell B calls
// go at once and then one per interval, exactly as a token bucket of size
// B. Unlike a token bucket it needs one number, which fits a KV value and
// a compare-and-set.
func (c Config) reserve(s state, now time.Time) (next state, at time.Time) {
	r := c.current(s)
	t := c.interval(r)
	tau := time.Duration(c.burst(r)-1) * t
	tat := s.TAT
	if tat.Before(now) {
		tat = now
	}
	at = tat.Add(-tau)
	if at.Before(now) {
		at = now
	}
	s.TAT = tat.Add(t)
	s.Rate = c.stored(r)
	return s, at
}

// stored is what Rate keeps for r: 0 at the ceiling, so a rate written
// under an old, lower ceiling is not mistaken for a 429 cut once the
// ceiling is raised (a restart with a higher calls_per_minute would
// otherwise crawl back up step by step from the old ceiling).
func (c Config) stored(r float64) float64 {
	if r >= c.CallsPerMinute {
		return 0
	}
	return r
}

// throttled is the multiplicative decrease for a 429 seen at now: halve the
// rate (not below the floor) and push TAT so the next call waits one full
// interval at the new rate, since the 429 says the gateway's window is full
// now. A 429 within Holdoff of the last cut changes nothing.
func (c Config) throttled(s state, now time.Time) (state, bool) {
	if !s.Cut.IsZero() && now.Before(s.Cut.Add(c.Holdoff)) {
		return s, false
	}
	r := max(c.current(s)/2, c.FloorPerMinute)
	s.Rate, s.OK, s.Cut = r, 0, now
	s.Gen++
	if pause := now.Add(c.interval(r)); s.TAT.Before(pause) {
		s.TAT = pause
	}
	return s, true
}

// succeeded is the additive increase: every IncreaseAfter successes in a
// row raise the rate by IncreaseStep, up to the ceiling and never above.
// At the ceiling a success changes nothing (and the shared limiter writes
// nothing).
//
// A raise also moves TAT earlier by the difference of the two intervals:
// the slot after the last one given out was priced at the old rate, and
// without the move every call of the climb would be spaced at the rate
// before it, which after a cut to the floor means waiting five minutes
// for the second clean call. The next slot is still one new interval
// after the last one given out, so no window sees more than the new rate.
func (c Config) succeeded(s state) (state, bool) {
	old := c.current(s)
	if old >= c.CallsPerMinute {
		return s, false
	}
	r := old
	s.OK++
	if s.OK >= c.IncreaseAfter {
		r = min(c.CallsPerMinute, r+c.IncreaseStep)
		s.OK = 0
	}
	if r > old && !s.TAT.IsZero() {
		s.TAT = s.TAT.Add(c.interval(r) - c.interval(old))
	}
	s.Rate = c.stored(r)
	return s, true
}
