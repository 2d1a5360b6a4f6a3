package hssclient

import (
	"context"
	"fmt"
	"time"
)

// Pacer paces calls to HSS. When the client has one (WithPacer), every
// call of every API waits on it before each HTTP request (a 401 retry
// included) and sends only when Wait returns nil. HSS gives each API its
// own budget: a Pacer that keeps one per API implements APIPacer, and is
// then asked with the operation's name.
//
// Wait blocks until one call may be made or ctx is done; it returns a
// non-nil error, matching context.Canceled or context.DeadlineExceeded
// (errors.Is), when the call must not be made. It must be safe for
// concurrent use. ratelimit's limiters implement it.
//
// The client owns no rate and no concurrency bound of its own: the HSS
// quota is per user and per API, so the pace belongs to whoever sees every
// call of that user, across replicas (the bridge's shared limiter), and a
// second limit here could only disagree with it. Without a Pacer the
// client sends at once, as it should when its caller takes the permit
// before calling (package scanner does, so that the queue packs a call
// only once it may go).
type Pacer interface {
	Wait(ctx context.Context) error
}

// APIPacer is a Pacer with a budget per API: the client calls WaitFor
// with Call.API (APIBatchScan, APIListSwrImageRepository, ...) instead of
// Wait.
type APIPacer interface {
	Pacer
	WaitFor(ctx context.Context, api string) error
}

// wait waits on p for api.
func wait(ctx context.Context, p Pacer, api string) error {
	if ap, ok := p.(APIPacer); ok {
		return ap.WaitFor(ctx, api)
	}
	return p.Wait(ctx)
}

// noPacer is the Pacer of a client given none: it never waits, but a call
// whose ctx is already done is not sent.
type noPacer struct{}

func (noPacer) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("before sending: %w", err)
	}
	return nil
}

// Call describes one call to an HSS API for an Observer.
type Call struct {
	// API names the operation as the SDK does: APIBatchScan,
	// APIListSwrImageRepository, ... (the API* constants). Metrics of
	// scans should count only the scan operations.
	API       string
	Target    Target
	ImageType ImageType
	// Images is the length of image_info_list (0 for a full scan), of a
	// scan task's image_info, or the rows of a list answer.
	Images int
	// Status is the HTTP status of the last attempt, 0 when no answer came.
	Status int
	// RequestID is HSS's X-Request-Id of the last answer (a failure's
	// body request_id when the header is missing), "" without one: the
	// id HSS support asks for, on success as on failure.
	RequestID string
	// Class is Classify of the call's result.
	Class Class
	// Attempts is 1, or 2 when a refused token was refreshed and the call
	// sent again.
	Attempts int
	// Duration is the time spent in HTTP exchanges (token fetches
	// included), without the Pacer's waits.
	Duration time.Duration
	// Wait is the time spent waiting for the Pacer (0 without one).
	Wait time.Duration
}

// Observer is told about every call that got past validation, so the
// caller can record metrics (a Prometheus histogram of Duration by Class,
// a gauge of Wait) without this package importing a metrics library.
// ObserveCall is called synchronously at the end of the call and must not
// block; it must be safe for concurrent use.
type Observer interface {
	ObserveCall(Call)
}

type noopObserver struct{}

func (noopObserver) ObserveCall(Call) {}

// Answer is what one call's answer said, for the caller that made it:
// set by every call made under a ctx from WithAnswer. The Observer sees
// every call of the client; this is the one call's own, so a caller can
// log and keep HSS's request id of a call that succeeded (a failure's is
// in its *APIError too).
type Answer struct {
	API       string
	Status    int
	RequestID string
}

type answerKey struct{}

// WithAnswer returns ctx under which each call sets *a when it ends (the
// last call's answer when several are made; do not share a between
// concurrent calls).
func WithAnswer(ctx context.Context, a *Answer) context.Context {
	return context.WithValue(ctx, answerKey{}, a)
}

func recordAnswer(ctx context.Context, c Call) {
	if a, ok := ctx.Value(answerKey{}).(*Answer); ok && a != nil {
		*a = Answer{API: c.API, Status: c.Status, RequestID: c.RequestID}
	}
}
