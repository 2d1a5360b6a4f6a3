package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Adaptive is a process-local AIMD limiter: it starts at the ceiling,
// halves on a 429 and climbs back step by step. Use it with a single
// replica or in tests; several replicas each running one overrun a
// per-user quota N-fold (use Shared).
//
// It runs the same arithmetic as Shared (state.go: the GCRA slot, the
// margin, the cut and the climb) on a state kept in memory instead of in a
// KV key, so that what the tests and the scheduling simulator measure of
// one is true of the other.
type Adaptive struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	st state
	// refunded is closed and replaced at each refund, to wake the waiters
	// so they move their slots back (state.refund).
	refunded chan struct{}
}

var _ Limiter = (*Adaptive)(nil)

// NewAdaptive returns a local limiter at cfg's ceiling.
func NewAdaptive(cfg Config, opts ...Option) (*Adaptive, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := buildOptions(opts)
	return &Adaptive{cfg: cfg, log: o.log}, nil
}

var _ Taker = (*Adaptive)(nil)

// Wait implements Limiter: it reserves the next slot and sleeps until it.
func (a *Adaptive) Wait(ctx context.Context) error {
	_, err := a.Take(ctx)
	return err
}

// Take implements Taker: Wait, returning the permit.
func (a *Adaptive) Take(ctx context.Context) (Permit, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Permit{}, fmt.Errorf("wait for rate limit: %w", err)
		}
		a.mu.Lock()
		now := time.Now()
		next, at := a.cfg.reserve(a.st, now)
		// Do not take a slot the caller cannot wait for.
		if err := checkDeadline(ctx, at.Sub(now)); err != nil {
			a.mu.Unlock()
			return Permit{}, err
		}
		prev := a.st
		a.st = next
		a.mu.Unlock()

		granted := Permit{owner: a, slot: slotOf(next)}
		d := at.Sub(now)
		if d <= 0 {
			return granted, nil
		}
		if err := a.sleepUntil(ctx, &at, &granted.slot, next.Refunded); err != nil {
			a.mu.Lock()
			if a.st == next {
				// Nobody reserved or reported since: the slot is still the
				// last one, and giving it back is exact.
				a.st = prev
			}
			a.mu.Unlock()
			return Permit{}, err
		}
		a.mu.Lock()
		same := a.st.Gen == next.Gen
		a.mu.Unlock()
		if same {
			return granted, nil
		}
		// A 429 arrived while this call waited: its slot was priced at the
		// refused rate. Take a new one at the new rate (the old one stays
		// spent, which only errs on the slow side).
	}
}

// sleepUntil sleeps until *at or ctx is done; a refund meanwhile moves *at
// (and the permit's slot) back by the time refunded since base.
func (a *Adaptive) sleepUntil(ctx context.Context, at *time.Time, g *slot, base time.Duration) error {
	for {
		a.mu.Lock()
		if shift := a.st.Refunded - base; shift > 0 && a.st.Gen == g.gen && a.st.Rate == g.rate {
			*at, g.tat, base = at.Add(-shift), g.tat.Add(-shift), a.st.Refunded
		}
		wake := a.wakeLocked()
		a.mu.Unlock()
		d := time.Until(*at)
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
			return nil
		case <-wake:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for rate limit: %w", ctx.Err())
		}
	}
}

// wakeLocked is the channel the next refund closes. a.mu is held.
func (a *Adaptive) wakeLocked() chan struct{} {
	if a.refunded == nil {
		a.refunded = make(chan struct{})
	}
	return a.refunded
}

// refund gives back an unused permit (Permit.Refund) and wakes the
// waiters to move their slots back. It never fails.
func (a *Adaptive) refund(_ context.Context, g slot) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ok bool
	if a.st, ok = a.cfg.refund(a.st, g, time.Now()); ok && a.refunded != nil {
		close(a.refunded)
		a.refunded = nil
	}
	return nil
}

// Feedback implements Limiter. It never fails.
func (a *Adaptive) Feedback(_ context.Context, throttled bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.cfg.current(a.st)
	var changed bool
	if throttled {
		a.st, changed = a.cfg.throttled(a.st, time.Now())
	} else {
		a.st, changed = a.cfg.succeeded(a.st)
	}
	if r := a.cfg.current(a.st); changed && (throttled || r != old) {
		logRateChange(a.log, throttled, old, r, a.st.Gen)
	}
	return nil
}

// Rate implements Limiter.
func (a *Adaptive) Rate() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg.current(a.st)
}

func logRateChange(log *slog.Logger, throttled bool, old, r float64, gen uint64) {
	if throttled {
		log.Warn("rate limit cut after 429", "old_per_minute", old, "new_per_minute", r, "cuts", gen)
		return
	}
	log.Info("rate limit raised", "old_per_minute", old, "new_per_minute", r)
}
