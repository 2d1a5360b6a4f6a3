package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// jetstreamAttempt bounds one try of a JetStream set-up request. On a
// fresh cluster, two replicas creating the same 3-replica KV bucket at the
// same moment can both wait without an answer until their deadline, and a
// request sent while the meta leader is being elected can too; a new try
// answers in milliseconds. So set-up is tried in short attempts within the
// start-up budget rather than once with all of it.
const jetstreamAttempt = 3 * time.Second

// RetryJetStream runs f, a JetStream set-up step named what, in attempts
// of a few seconds until it succeeds, fails for another reason than a
// timeout or missing responders, or ctx ends. Set-up must be idempotent
// (create-or-update), so that a retry after an attempt that did land is
// harmless.
func RetryJetStream(ctx context.Context, log *slog.Logger, what string, f func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, jetstreamAttempt)
		err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !retryable(err) {
			if err != nil && ctx.Err() != nil {
				return fmt.Errorf("%s: %w (gave up after %d attempts)", what, err, attempt)
			}
			return err
		}
		log.Warn("jetstream set-up attempt timed out; trying again", "what", what, "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}

// retryable: the request got no answer in time, or JetStream is not
// answering yet (starting, electing a leader).
func retryable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, nats.ErrNoResponders)
}
