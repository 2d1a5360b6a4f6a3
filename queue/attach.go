package queue

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Attach binds to the job stream, the dead-letter stream and the durable
// consumer a bridge set up with cfg, and creates or updates nothing. It is
// for tools beside a running bridge (`bridge dlq`): Open applies its config
// to what it finds, so a tool run with another config (or none) would change
// the running bridge's setup, e.g. shorten the job stream's max_age and so
// delete waiting jobs.
//
// A config that does not match the server's setup is refused with a
// *MismatchError naming each setting: it is not the bridge's own config, and
// a tool would read the streams with wrong assumptions (subjects, names). A
// missing stream or consumer wraps jetstream.ErrStreamNotFound or
// jetstream.ErrConsumerNotFound. logger may be nil.
//
// The attached Queue publishes (DeadLetters.Redrive) and reads; it does not
// open the accepted set, so it must not run a Consumer: use Open for that.
func Attach(ctx context.Context, js jetstream.JetStream, cfg Config, logger *slog.Logger) (*Queue, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{js: js, cfg: cfg, accepted: noAccepted{}, log: logger.With("component", "queue"), base: logger}
	var err error
	if q.stream, err = js.Stream(ctx, cfg.Stream.Name); err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", cfg.Stream.Name, err)
	}
	if q.dlq, err = js.Stream(ctx, cfg.DLQ.Name); err != nil {
		return nil, fmt.Errorf("look up dead-letter stream %s: %w", cfg.DLQ.Name, err)
	}
	if q.consumer, err = q.stream.Consumer(ctx, cfg.Consumer.Durable); err != nil {
		return nil, fmt.Errorf("look up consumer %s on %s: %w", cfg.Consumer.Durable, cfg.Stream.Name, err)
	}
	if m := cfg.mismatches(q.stream.CachedInfo().Config, q.dlq.CachedInfo().Config, q.consumer.CachedInfo().Config); len(m) > 0 {
		return nil, &MismatchError{Mismatches: m}
	}
	return q, nil
}

// MismatchError is Attach's refusal of a config the server's setup does not
// match.
type MismatchError struct {
	Mismatches []Mismatch
}

func (e *MismatchError) Error() string {
	parts := make([]string, len(e.Mismatches))
	for i, m := range e.Mismatches {
		parts[i] = m.String()
	}
	return "the streams on the server differ from the config: " + strings.Join(parts, "; ")
}

// Mismatch is one setting whose value on the server differs from the
// config's.
type Mismatch struct {
	// Setting is the Config setting as a config file spells it
	// (stream.max_age), with a note when the server holds a value derived
	// from it.
	Setting string
	// Server and Config are the two values, formatted.
	Server, Config string
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s: %s on the server, %s in the config", m.Setting, m.Server, m.Config)
}

// mismatches compares the server's settings with those Open would give
// them: the settings Open would change, plus the subjects a tool relies on.
func (c Config) mismatches(stream, dlq jetstream.StreamConfig, cons jetstream.ConsumerConfig) []Mismatch {
	var out []Mismatch
	diff := func(setting string, server, config any) {
		if s, c := fmt.Sprint(server), fmt.Sprint(config); s != c {
			out = append(out, Mismatch{Setting: setting, Server: s, Config: c})
		}
	}
	ws, wd, wc := c.Stream.jetstream(), c.jetstreamDLQ(), c.jetstreamConsumer()
	diff("stream.subject_prefix", stream.Subjects, ws.Subjects)
	diff("stream.max_age", stream.MaxAge, ws.MaxAge)
	diff("stream.duplicates", stream.Duplicates, ws.Duplicates)
	diff("stream.max_bytes", stream.MaxBytes, ws.MaxBytes)
	diff("stream.replicas", stream.Replicas, ws.Replicas)
	diff("stream.storage", stream.Storage, ws.Storage)

	diff("dlq.subject_prefix", dlq.Subjects, wd.Subjects)
	diff("dlq.max_age", dlq.MaxAge, wd.MaxAge)
	diff("dlq.replicas", dlq.Replicas, wd.Replicas)
	diff("stream.duplicates (dead-letter stream)", dlq.Duplicates, wd.Duplicates)

	diff("consumer.heartbeat (ack_wait is 3 heartbeats)", cons.AckWait, wc.AckWait)
	diff("consumer.max_held (max_ack_pending is 4×max_held)", cons.MaxAckPending, wc.MaxAckPending)
	return out
}
