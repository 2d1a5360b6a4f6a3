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
	// Refunded is the total time refunds moved TAT back. A waiter whose
	// slot was reserved before a refund moves its slot back as much (its
	// reservation came after the refunded grant, which it need not wait
	// for now): refund says why that is safe.
	Refunded time.Duration `json:"refunded,omitzero"`
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

// slot is what a granted permit remembers of its reservation, so that an
// unused permit can be given back (refund): the TAT its reservation left,
// and the generation and stored rate it was priced at.
type slot struct {
	tat  time.Time
	gen  uint64
	rate float64
}

func slotOf(next state) slot { return slot{tat: next.TAT, gen: next.Gen, rate: next.Rate} }

// refund gives back the permit of slot g, which no call used, at now: TAT
// moves back by one interval, or by less (g.tat - now) when the slot's
// interval has partly run out, and never below now.
//
// Why that never lets a sliding minute hold more calls than the quota:
// the state after the refund is never more permissive than the state the
// same history would have reached without the unused grant, and the calls
// made are that history's calls, which the GCRA (with its margin) already
// spaces. Without the grant, every reservation since would have found the
// TAT one interval t earlier, unless it was then behind the clock (an
// idle limiter: the reservation starts from now), which shrinks the
// difference to what was left of the interval at that moment. Every
// reservation since the grant came at some time n ≤ now with the TAT at
// least g.tat, so the difference is at least min(t, g.tat - now): moving
// TAT back by that much and not below now stays at or behind the state
// without the grant. A cut (a new generation) or a rate change since the
// grant repriced the TAT, and the refund is dropped (erring slow, as
// right after a 429 it should).
//
// A reservation still waiting for its slot was made after the refunded
// grant (slots are handed out in order), so without the grant its slot
// would have been earlier by at least as much as TAT moves back: it may
// move its slot back by the same amount (Refunded), never before now.
// Otherwise a waiter that reserved while the unused permit's call was
// being prepared would still wait for it.
func (c Config) refund(s state, g slot, now time.Time) (state, bool) {
	if s.Gen != g.gen || s.Rate != g.rate {
		return s, false
	}
	back := min(c.interval(c.current(s)), g.tat.Sub(now))
	if back <= 0 {
		return s, false
	}
	tat := s.TAT.Add(-back)
	if tat.Before(now) {
		tat = now
	}
	if !tat.Before(s.TAT) {
		return s, false
	}
	s.Refunded += s.TAT.Sub(tat)
	s.TAT = tat
	return s, true
}
