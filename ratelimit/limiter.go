package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Limiter paces calls to a rate-limited API and adapts to its refusals.
// Adaptive and Shared implement it; its Wait is hssclient.Pacer.
type Limiter interface {
	// Wait blocks until one call may be made or ctx is done. It returns a
	// non-nil error, matching context.Canceled or context.DeadlineExceeded
	// (errors.Is), only when the call must not be made. Safe for
	// concurrent use.
	Wait(ctx context.Context) error
	// Feedback reports how a call made under a permit ended: throttled is
	// true for a 429 (APIGW.0308), false for an accepted call. Report
	// nothing for other failures (5xx, network, 4xx): they say nothing
	// about the rate. The error is only for logging: the limiter stays
	// usable.
	Feedback(ctx context.Context, throttled bool) error
	// Rate is the current rate in calls per minute, for a gauge. It does no
	// I/O.
	Rate() float64
}

// checkDeadline fails when ctx's deadline ends within d, as
// golang.org/x/time/rate's Limiter.Wait does, rather than after a useless
// wait.
func checkDeadline(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && d > 0 && time.Until(dl) < d {
		return fmt.Errorf("wait for rate limit: next permit in %s is past the deadline: %w",
			d.Round(time.Millisecond), context.DeadlineExceeded)
	}
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for rate limit: %w", ctx.Err())
	}
}

// monotonicClock is the local clock of the shared limiter: the wall time
// at start advanced by the monotonic clock, so an NTP step of the wall
// clock does not move it. Its error against the server is what clockSync
// measures and removes.
func monotonicClock() func() time.Time {
	start := time.Now()
	return func() time.Time { return start.Add(time.Since(start)) }
}

// Option configures a limiter.
type Option func(*options)

type options struct {
	log   *slog.Logger
	clock func() time.Time
}

// WithLogger sets the logger; the default discards.
func WithLogger(log *slog.Logger) Option {
	return func(o *options) {
		if log != nil {
			o.log = log
		}
	}
}

// withClock replaces the local clock (tests: a replica whose clock is
// wrong). Sleeps still use real durations.
func withClock(now func() time.Time) Option {
	return func(o *options) { o.clock = now }
}

func buildOptions(opts []Option) options {
	o := options{log: slog.New(slog.DiscardHandler), clock: monotonicClock()}
	for _, opt := range opts {
		opt(&o)
	}
	o.log = o.log.With("component", "ratelimit")
	return o
}

// Taker is a Limiter whose permits can be given back: Take is Wait that
// returns the permit. The scanner takes a batch-scan permit before it
// knows whether the call will be made (the presence check may find none
// of the images in HSS); at 5 calls a minute an unused permit must not be
// lost. Adaptive and Shared implement it.
type Taker interface {
	Limiter
	// Take blocks as Wait does and returns the permit granted.
	Take(ctx context.Context) (Permit, error)
}

// Permit is one call a Taker granted. The zero Permit refunds nothing.
type Permit struct {
	owner refunder
	slot  slot
}

type refunder interface {
	refund(ctx context.Context, g slot) error
}

// Refund gives the permit back when no call was made under it: the
// limiter's next slot moves one interval earlier (less when part of the
// interval has already passed), never before now, and only if the rate
// was not cut or changed since the permit was granted (state.go's refund
// says why no sliding minute then holds more calls than the quota). Call
// it at most once, promptly, and only for a permit whose call was not
// sent. The error is only for logging: a refund that fails leaves the
// slot spent, which errs on the slow side.
func (p Permit) Refund(ctx context.Context) error {
	if p.owner == nil {
		return nil
	}
	return p.owner.refund(ctx, p.slot)
}
