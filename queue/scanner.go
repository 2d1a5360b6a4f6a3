package queue

import (
	"context"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// Scanner is what the consumer needs of HSS. Package scanner implements it
// on top of hssclient and the shared rate limiter (scanner/hss.go); tests
// use an in-memory fake.
type Scanner interface {
	// Acquire blocks until one more HSS call may start (rate limit and
	// concurrency limit) or ctx is done, and returns an error only then.
	// release must be called once when the call ends. The consumer takes
	// the permit before it packs a call, so that while permits are scarce
	// every call carries as much of what waits as fits.
	Acquire(ctx context.Context) (release func(), err error)
	// Scan makes one batch-scan call for target with these items, already
	// collapsed (one per distinct scanjob.Job.ItemKey) and all of target.
	// It does not wait for the rate limit itself, and it returns promptly
	// once ctx is done.
	Scan(ctx context.Context, target scanjob.Target, items []scanjob.Job) error
	// Judge classifies a non-nil error returned by Scan.
	Judge(err error) Verdict
}

// Class is what an HSS call's outcome means for its messages.
type Class int

const (
	// Accepted: HSS took the request (Scan returned nil). Ack every message.
	Accepted Class = iota
	// Retry: HSS or the way to it failed (429, 5xx, network, timeout); the
	// same request may succeed later. Nak with a growing delay.
	Retry
	// Permanent: HSS refused the request itself (other 4xx); sending it
	// again unchanged fails again. Split the call until the bad item is
	// alone, then dead-letter it.
	Permanent
)

func (c Class) String() string {
	switch c {
	case Accepted:
		return "accepted"
	case Retry:
		return "retry"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Verdict is Judge's reading of a failed call: the class and what HSS said,
// kept in dead-letter records so an operator can see why.
type Verdict struct {
	Class     Class
	Status    int    // HTTP status, 0 when there was no answer
	Code      string // HSS error_code
	Message   string // HSS error_msg
	RequestID string // X-Request-Id of the answer
}
