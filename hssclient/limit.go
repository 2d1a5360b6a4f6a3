package hssclient

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// Limiter paces calls to HSS. BatchScan calls Wait before every HTTP
// request (a 401 retry included) and sends only when it returns nil.
//
// Wait blocks until one call may be made or ctx is done; it returns a
// non-nil error, matching context.Canceled or context.DeadlineExceeded
// (errors.Is), when the call must not be made. It must be safe for
// concurrent use.
//
// The HSS quota is per user and per source IP, so with several bridge
// replicas the limiter must be shared by all of them (a JetStream KV
// bucket, for instance): that implementation replaces NewRateLimiter
// through WithLimiter, and nothing else changes.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Defaults of the HSS quota: "a single user or IP address can access an
// API for up to five times/minute" (Limitations and Constraints,
// https://support.huaweicloud.com/intl/en-us/api-hss2.0/hss_02_0005.html).
const (
	DefaultCallsPerMinute = 5
	// DefaultBurst is 1, not 5. The gateway's window is not documented: a
	// token bucket of 5 per minute with a burst of 5 lets 5 calls through
	// at once and then one every 12 s, which puts 9 calls in the minute
	// after the burst and is refused by a sliding one-minute window. With
	// a burst of 1 (one call every 12 s) no 60-second window, sliding or
	// fixed, holds more than 5 calls. The price is up to 12 s of extra
	// latency for the second call of a quiet spell; the queue batches
	// images meanwhile, so the call carries more of them.
	DefaultBurst = 1
)

// NewRateLimiter returns a process-local token bucket of callsPerMinute
// with the given burst.
func NewRateLimiter(callsPerMinute float64, burst int) Limiter {
	return rateLimiter{rate.NewLimiter(rate.Limit(callsPerMinute/60), burst)}
}

type rateLimiter struct{ l *rate.Limiter }

func (r rateLimiter) Wait(ctx context.Context) error {
	if err := r.l.Wait(ctx); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("wait for rate limit: %w", ctxErr)
		}
		// rate.Limiter refuses at once when the wait would outlast ctx's
		// deadline; say so in the terms of the Limiter contract.
		return fmt.Errorf("wait for rate limit: %w: %w", context.DeadlineExceeded, err)
	}
	return nil
}

// Unlimited is a Limiter that never waits: for the in-process simulator
// and tests. Never use it against the real HSS.
var Unlimited Limiter = unlimited{}

type unlimited struct{}

func (unlimited) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wait for rate limit: %w", err)
	}
	return nil
}

// semaphore bounds the calls in flight.
type semaphore chan struct{}

func (s semaphore) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for a call slot: %w", ctx.Err())
	}
}

func (s semaphore) release() { <-s }

// Call describes one BatchScan for an Observer.
type Call struct {
	Target    Target
	ImageType ImageType
	// Images is the length of image_info_list (0 for a full scan).
	Images int
	// Status is the HTTP status of the last attempt, 0 when no answer came.
	Status int
	// Class is Classify of the call's result.
	Class Class
	// Attempts is 1, or 2 when a refused token was refreshed and the call
	// sent again.
	Attempts int
	// Duration is the time spent in HTTP exchanges (token fetches
	// included), without the waits for a slot and for the rate limit.
	Duration time.Duration
	// Wait is the time spent waiting for a call slot and the rate limit.
	Wait time.Duration
}

// Observer is told about every BatchScan that got past validation, so the
// caller can record metrics (a Prometheus histogram of Duration by Class,
// a gauge of Wait) without this package importing a metrics library.
// ObserveCall is called synchronously at the end of BatchScan and must not
// block; it must be safe for concurrent use.
type Observer interface {
	ObserveCall(Call)
}

type noopObserver struct{}

func (noopObserver) ObserveCall(Call) {}
