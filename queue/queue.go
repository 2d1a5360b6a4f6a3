package queue

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// Queue is the set-up JetStream side: the job stream, the dead-letter
// stream and the durable consumer. It publishes jobs, makes Consumers and
// gives access to the dead letters. Safe for concurrent use.
type Queue struct {
	js       jetstream.JetStream
	cfg      Config
	stream   jetstream.Stream
	dlq      jetstream.Stream
	consumer jetstream.Consumer // the push lane
	// background is the background lanes' consumer (laneSubject); nil on
	// an attached Queue, which runs no Consumer.
	background jetstream.Consumer
	accepted   acceptedSet // noAccepted when cfg.Accepted.Disabled
	metrics    *Metrics
	log        *slog.Logger // component=queue
	base       *slog.Logger // as passed in, for the consumer's own component
}

// Open applies cfg's defaults, validates it and creates or updates the job
// stream, the dead-letter stream, the durable pull consumer and (unless
// cfg.Accepted.Disabled) the accepted set's KV bucket, so every
// replica can call it at start: it is idempotent, and a changed setting
// (max age, linger → AckWait, ...) is applied to the existing objects.
// Settings the server cannot change in place (retention, storage) make it
// fail with the server's error. logger and metrics may be nil.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config, logger *slog.Logger, metrics *Metrics) (*Queue, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{js: js, cfg: cfg, accepted: noAccepted{}, metrics: metrics, log: logger.With("component", "queue"), base: logger}
	var err error
	if q.stream, err = js.CreateOrUpdateStream(ctx, cfg.Stream.jetstream()); err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", cfg.Stream.Name, err)
	}
	if q.dlq, err = js.CreateOrUpdateStream(ctx, cfg.jetstreamDLQ()); err != nil {
		return nil, fmt.Errorf("create or update dead-letter stream %s: %w", cfg.DLQ.Name, err)
	}
	if q.consumer, err = q.stream.CreateOrUpdateConsumer(ctx, cfg.jetstreamConsumer()); err != nil {
		return nil, fmt.Errorf("create or update consumer %s on %s: %w", cfg.Consumer.Durable, cfg.Stream.Name, err)
	}
	// After the push consumer: a push consumer of an older bridge
	// filtered on every subject, and the server refuses a second
	// consumer overlapping it on a WorkQueue stream until it is narrowed.
	if q.background, err = q.stream.CreateOrUpdateConsumer(ctx, cfg.jetstreamBackgroundConsumer()); err != nil {
		return nil, fmt.Errorf("create or update consumer %s on %s: %w", cfg.Consumer.BackgroundDurable(), cfg.Stream.Name, err)
	}
	accepted := "disabled"
	if !cfg.Accepted.Disabled {
		if q.accepted, err = openAccepted(ctx, js, cfg); err != nil {
			return nil, err
		}
		accepted = cfg.Accepted.Bucket
	}
	k := cfg.Consumer
	q.log.Info("queue open", "stream", cfg.Stream.Name, "dlq", cfg.DLQ.Name, "durable", k.Durable,
		"ack_wait", k.AckWait(), "max_ack_pending", k.MaxAckPending(), "max_held", k.MaxHeld,
		"accepted_bucket", accepted)
	return q, nil
}

// Config is the effective configuration, defaults applied.
func (q *Queue) Config() Config { return q.cfg }
