package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Adaptive is a process-local AIMD limiter on a rate.Limiter: it starts at
// the ceiling, halves on a 429 and climbs back step by step. Use it with a
// single replica or in tests; several replicas each running one overrun a
// per-user quota N-fold (use Shared).
type Adaptive struct {
	cfg Config
	lim *rate.Limiter
	log *slog.Logger

	mu sync.Mutex
	// st holds Rate, OK, Cut and Gen; TAT is the end of the pause after the
	// last cut (the rate.Limiter does the rest).
	st state
}

var _ Limiter = (*Adaptive)(nil)

// NewAdaptive returns a local limiter at cfg's ceiling.
func NewAdaptive(cfg Config, opts ...Option) (*Adaptive, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := buildOptions(opts)
	return &Adaptive{
		cfg: cfg,
		lim: rate.NewLimiter(perSecond(cfg.CallsPerMinute), cfg.Burst),
		log: o.log,
		st:  state{Rate: cfg.CallsPerMinute},
	}, nil
}

// Wait implements Limiter.
func (a *Adaptive) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("wait for rate limit: %w", err)
		}
		a.mu.Lock()
		gen, pause := a.st.Gen, a.st.TAT
		a.mu.Unlock()
		if err := sleepUntil(ctx, pause); err != nil {
			return err
		}
		if err := a.lim.Wait(ctx); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return fmt.Errorf("wait for rate limit: %w", ctxErr)
			}
			// rate.Limiter refuses at once when the wait would outlast
			// ctx's deadline; say so in the terms of the Limiter contract.
			return fmt.Errorf("wait for rate limit: %w: %w", context.DeadlineExceeded, err)
		}
		a.mu.Lock()
		same := a.st.Gen == gen
		a.mu.Unlock()
		if same {
			return nil
		}
		// A 429 arrived while this call waited: its token was priced at
		// the refused rate. Take a new one at the new rate (the old one is
		// spent, which only errs on the slow side).
	}
}

// Feedback implements Limiter. It never fails.
func (a *Adaptive) Feedback(_ context.Context, throttled bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	old := a.cfg.current(a.st)
	var changed bool
	if throttled {
		a.st, changed = a.cfg.throttled(a.st, now)
	} else {
		a.st, changed = a.cfg.succeeded(a.st)
	}
	r := a.cfg.current(a.st)
	if !changed || r == old && !throttled {
		return nil
	}
	a.lim.SetLimitAt(now, perSecond(r))
	a.lim.SetBurstAt(now, a.cfg.burst(r))
	logRateChange(a.log, throttled, old, r, a.st.Gen)
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
