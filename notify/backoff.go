package notify

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff is the delay between the attempts of one delivery: Min after
// the first failure, doubling, at most Max, each delay drawn from its
// upper half (jitter), so the retries of many events that failed
// together, an endpoint down for a minute, do not come back together.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff: 5s, 10s, 20s ... 10m, then every 10m until max_age.
var DefaultBackoff = Backoff{Min: 5 * time.Second, Max: 10 * time.Minute}

// Delay is the wait after the failed attempt number attempt (1 for the
// first); rnd draws from [0, n), rand.Int64N in production.
func (b Backoff) Delay(attempt uint64, rnd func(n int64) int64) time.Duration {
	d := b.Min
	for i := uint64(1); i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return d - half + time.Duration(rnd(int64(half)+1))
}

// action is what becomes of an event's message after an attempt.
type action int

const (
	ack    action = iota // delivered, or not for this webhook
	retry                // NakWithDelay(delay)
	giveUp               // Term, an ERROR log and the given_up metric
)

// attempt is the outcome of one POST.
type attempt struct {
	status int   // 0 when no response came
	err    error // the transport's error when no response came
	// retryAfter is the receiver's Retry-After in seconds (429, 503), 0
	// without one.
	retryAfter time.Duration
}

// decide turns an attempt into an action: 2xx delivers; 408, 429, 5xx
// and errors without a response (refused, reset, timeout) retry after a
// backoff until the event is maxAge old or maxAttempts were made (0: no
// limit); any other status (a 4xx, a redirect that was not followed) will
// not change by retrying and gives up at once. published is when the
// event entered the stream, attempts how many were made, this one
// included. reason says why, for the log.
func decide(a attempt, now, published time.Time, attempts uint64, maxAge time.Duration, maxAttempts int, b Backoff, rnd func(int64) int64) (act action, delay time.Duration, reason string) {
	switch {
	case a.err == nil && a.status >= 200 && a.status < 300:
		return ack, 0, "delivered"
	case a.err == nil && a.status != http.StatusRequestTimeout && a.status != http.StatusTooManyRequests && a.status < 500:
		if a.status >= 300 && a.status < 400 {
			return giveUp, 0, "answered " + strconv.Itoa(a.status) + ": a redirect to another host, scheme or method is not followed"
		}
		return giveUp, 0, "answered " + strconv.Itoa(a.status) + ", which a retry will not change"
	}
	age := now.Sub(published)
	if age >= maxAge {
		return giveUp, 0, "still failing after max_age " + maxAge.String()
	}
	if maxAttempts > 0 && attempts >= uint64(maxAttempts) {
		return giveUp, 0, "still failing after max_attempts " + strconv.Itoa(maxAttempts)
	}
	delay = b.Delay(attempts, rnd)
	if a.retryAfter > delay {
		delay = min(a.retryAfter, b.Max)
	}
	// The last retry comes at max_age, not a whole backoff after it.
	delay = min(delay, maxAge-age)
	return retry, delay, "will retry"
}

// parseRetryAfter reads a Retry-After of delay-seconds (the HTTP-date
// form is rare from webhook receivers and is ignored).
func parseRetryAfter(h http.Header) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(min(s, 24*3600)) * time.Second
}

// jitter is the production rnd.
func jitter(n int64) int64 { return rand.Int64N(n) }
