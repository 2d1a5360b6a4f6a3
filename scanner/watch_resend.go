package scanner

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// JobStream puts jobs into the queue's job stream under a message id of
// the caller's choosing: the watcher's rescan, whose id must differ from
// the job id (the stream's duplicate window and the queue's accepted set
// both remember that one) and be the same for every try of one attempt.
//
// It builds the message as queue.Queue.Publish does (subject
// <prefix>.<image type>.<namespace> with queue.EscapeToken, the job's
// JSON, Nats-Msg-Id and the expected stream). queue keeps its own
// publish with an id unexported; when it exports one, this should call it.
type JobStream struct {
	js     jetstream.JetStream
	stream queue.StreamConfig
}

// NewJobStream returns the resender for the job stream cfg describes
// (defaults filled by the caller: queue.Queue.Config().Stream).
func NewJobStream(js jetstream.JetStream, cfg queue.StreamConfig) JobStream {
	return JobStream{js: js, stream: cfg}
}

// Resend implements JobResender. The job keeps its AcceptedAt, so the
// push-to-scanned latency counts from the push, not from the rescan.
func (s JobStream) Resend(ctx context.Context, job scanjob.Job, msgID string) error {
	if job.Namespace == "" || job.Target.ImageType == "" {
		return fmt.Errorf("resend %s: %w: namespace and target.image_type are required", msgID, queue.ErrInvalidJob)
	}
	if job.AcceptedAt.IsZero() {
		job.AcceptedAt = time.Now().UTC()
	}
	body, err := job.AppendJSON(nil)
	if err != nil {
		return fmt.Errorf("resend %s: encode: %w", msgID, err)
	}
	subject, err := queue.Subject(s.stream.SubjectPrefix, job)
	if err != nil {
		return fmt.Errorf("resend %s: %w", msgID, err)
	}
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{
		jetstream.MsgIDHeader:          {msgID},
		jetstream.ExpectedStreamHeader: {s.stream.Name},
	}}
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("resend %s to %s: %w", msgID, subject, err)
	}
	return nil
}
