package queue

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// PublishResult is what the stream said about a stored job.
type PublishResult struct {
	// Duplicate: a job with the same ID was stored within the duplicate
	// window, so this one was dropped. It is still stored (once).
	Duplicate bool
	Stream    string
	Seq       uint64
}

// Publish stores job in the job stream and returns once the server
// acknowledged it (PubAck): a nil error means the job is on disk (on every
// replica), so the webhook may answer 2xx; any error means it may not be,
// so the caller answers 503 and lets the sender retry. Its Nats-Msg-Id is
// job.ID(), so a registry's retried delivery is stored once. A zero
// AcceptedAt is set to now. Safe for concurrent use.
func (q *Queue) Publish(ctx context.Context, job scanjob.Job) (PublishResult, error) {
	return q.publish(ctx, job, job.ID())
}

// publish counts the outcome; the caller logs a failure, where it decides
// what to answer.
func (q *Queue) publish(ctx context.Context, job scanjob.Job, msgID string) (PublishResult, error) {
	res, err := q.store(ctx, job, msgID)
	q.metrics.publish(res.Duplicate, err)
	return res, err
}

func (q *Queue) store(ctx context.Context, job scanjob.Job, msgID string) (PublishResult, error) {
	subject, err := jobSubject(q.cfg.Stream.SubjectPrefix, job)
	if err != nil {
		return PublishResult{}, fmt.Errorf("publish %s: %w", msgID, err)
	}
	if job.AcceptedAt.IsZero() {
		job.AcceptedAt = time.Now().UTC()
	}
	buf := bodies.Get().(*[]byte)
	defer bodies.Put(buf)
	body, err := job.AppendJSON((*buf)[:0])
	if err != nil {
		return PublishResult{}, fmt.Errorf("publish %s: encode: %w", msgID, err)
	}
	*buf = body
	// The headers WithMsgID and WithExpectStream would set, set here:
	// PublishMsg without options skips building them per message.
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{
		jetstream.MsgIDHeader:          {msgID},
		jetstream.ExpectedStreamHeader: {q.cfg.Stream.Name},
	}}
	injectTrace(ctx, msg.Header)
	ack, err := q.js.PublishMsg(ctx, msg)
	if err != nil {
		return PublishResult{}, fmt.Errorf("publish %s to %s: %w", msgID, subject, err)
	}
	return PublishResult{Duplicate: ack.Duplicate, Stream: ack.Stream, Seq: ack.Sequence}, nil
}

// bodies are the buffers jobs are encoded into. PublishMsg copies a
// message into the connection's buffer before it returns, so a buffer is
// free again once store returns, and a request encodes its job without
// allocating.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
