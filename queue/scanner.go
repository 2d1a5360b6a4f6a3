package queue

import (
	"context"
	"fmt"
	"time"

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
	//
	// Scan may settle its items differently by returning a *Partial (or
	// an error wrapping one): some deferred, some given up, the rest by
	// Partial.Err.
	// Judge classifies a non-nil error returned by Scan (for a Partial,
	// its Err).
	Judge(err error) Verdict
}

// PermitScanner is a Scanner that can give back a permit no HSS call used
// (HSS allows 5 calls a minute per API: a permit taken for a batch whose
// images HSS does not know yet must not be lost). The consumer then takes
// its permits with AcquirePermit instead of Acquire and ends each with
// Permit.Release instead of the release func, and the Scan made under a
// permit gets it in its ctx (PermitFrom), so the Scanner knows whose
// permit a Scan that calls nobody leaves unused. A permit released without
// a Scan (nothing was left to pack) is unused too.
type PermitScanner interface {
	Scanner
	// AcquirePermit is Acquire, returning the permit.
	AcquirePermit(ctx context.Context) (Permit, error)
}

// Permit is one call permit of a PermitScanner.
type Permit interface {
	// Release ends the permit once its Scan returned, or when no Scan
	// was made under it. Call it once.
	Release()
}

type permitKey struct{}

// WithPermit returns ctx carrying p, the permit a Scan runs under.
func WithPermit(ctx context.Context, p Permit) context.Context {
	return context.WithValue(ctx, permitKey{}, p)
}

// PermitFrom is the permit ctx carries (WithPermit), or nil.
func PermitFrom(ctx context.Context) Permit {
	p, _ := ctx.Value(permitKey{}).(Permit)
	return p
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

// Partial is what Scan returns (as the error, or wrapped in it) when one
// call settles its items differently: some are not ready to be scanned yet
// (Deferred: HSS does not know the image yet, so it comes back after a
// delay), some never will be (GivenUp: dead-lettered with a reason), and
// the rest went with the call, whose outcome is Err.
//
// Why: HSS scans only images it already knows, and a push webhook arrives
// before the image is replicated into SWR and synchronised into HSS. Such
// an item is not the call's failure: bisecting the call to isolate it
// would spend the scan quota on the good items again, and dead-lettering
// it would lose a scan that succeeds minutes later. The scanner knows
// which items these are before (or after) it calls HSS; Partial lets it
// say so per item.
//
// Keys are scanjob.Job.ItemKey of the items Scan was given; a key that
// names no item is ignored, and a key in both maps counts as deferred.
// Every message collapsed into a keyed item is settled the same way.
type Partial struct {
	// Deferred items are nakked with their Delay (NakWithDelay): not a
	// failure, so no bisection and no dead letter; the stream delivers
	// them again after Delay.
	Deferred map[string]Deferral
	// GivenUp items are dead-lettered with their reason (ReasonNotInSWR,
	// ReasonScanTimeout or another Reason* constant) and then termed.
	GivenUp map[string]GiveUp
	// Err is the outcome of the call for the remaining items, judged as
	// a Scan error is (Judge): nil means HSS accepted them, and they are
	// acked (and recorded in the accepted set). When no item remains, Err
	// is not looked at.
	Err error
}

// Deferral says when a deferred item should come back, and why (for logs
// and metrics; a short token such as "waiting_presence").
type Deferral struct {
	Delay  time.Duration
	Reason string
}

// GiveUp says why an item is given up: the dead-letter Reason, the
// Verdict kept in its record (the last HSS answer, if there was one) and a
// human message (DeadLetter.Error).
type GiveUp struct {
	Reason  string
	Verdict Verdict
	Message string
}

func (p *Partial) Error() string {
	s := fmt.Sprintf("partial scan: %d deferred, %d given up", len(p.Deferred), len(p.GivenUp))
	if p.Err != nil {
		s += ", others: " + p.Err.Error()
	}
	return s
}

// Unwrap is Err, so errors.Is and errors.As see the call's outcome.
func (p *Partial) Unwrap() error { return p.Err }
