package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/scan-bridge/scan-bridge/scanjob"
	"github.com/tidwall/gjson"
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
	res, err := publishMsg(ctx, q.js.Conn(), msg)
	if err != nil {
		return PublishResult{}, fmt.Errorf("publish %s to %s: %w", msgID, subject, err)
	}
	return res, nil
}

// publishMsg is jetstream's PublishMsg without options, with the PubAck
// read in one pass over its few fields instead of through reflection
// (encoding/json), which cost about 2 µs a job at saturation. It keeps
// PublishMsg's behaviour: its default deadline when ctx has none, its
// retries when no server answers (a stream leader changing), and its
// errors (jetstream.ErrNoStreamResponse, a *jetstream.APIError for a
// refused message, jetstream.ErrInvalidJSAck for an answer that is not a
// PubAck).
func publishMsg(ctx context.Context, nc *nats.Conn, msg *nats.Msg) (PublishResult, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, publishTimeout)
		defer cancel()
	}
	resp, err := nc.RequestMsgWithContext(ctx, msg)
	for r := 0; errors.Is(err, nats.ErrNoResponders) && r < jetstream.DefaultPubRetryAttempts; r++ {
		select {
		case <-ctx.Done():
		case <-time.After(jetstream.DefaultPubRetryWait):
		}
		resp, err = nc.RequestMsgWithContext(ctx, msg)
	}
	if errors.Is(err, nats.ErrNoResponders) {
		return PublishResult{}, jetstream.ErrNoStreamResponse
	}
	if err != nil {
		return PublishResult{}, err
	}
	return parsePubAck(resp.Data)
}

// publishTimeout is jetstream's default API timeout (5 s), which
// PublishMsg applies to a context without a deadline; the bridge makes its
// JetStream handles with the default (cmd/bridge/serve.go).
const publishTimeout = 5 * time.Second

// parsePubAck reads a JetStream publish answer: {"stream":..,"seq":..,
// "duplicate":..} or {"error":{"code":..,"err_code":..,"description":..}}.
func parsePubAck(data []byte) (PublishResult, error) {
	if !gjson.ValidBytes(data) {
		return PublishResult{}, jetstream.ErrInvalidJSAck
	}
	doc := gjson.ParseBytes(data)
	if !doc.IsObject() {
		return PublishResult{}, jetstream.ErrInvalidJSAck
	}
	var res PublishResult
	var apiErr *jetstream.APIError
	bad := false
	doc.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "stream":
			res.Stream, bad = v.Str, bad || v.Type != gjson.String
		case "seq":
			res.Seq, bad = v.Uint(), bad || v.Type != gjson.Number
		case "duplicate":
			res.Duplicate = v.Bool()
		case "error":
			if v.IsObject() {
				apiErr = &jetstream.APIError{Code: int(v.Get("code").Int()), ErrorCode: jetstream.ErrorCode(v.Get("err_code").Uint()),
					Description: v.Get("description").String()}
			}
		}
		return true
	})
	if apiErr != nil {
		return PublishResult{}, fmt.Errorf("nats: %w", apiErr)
	}
	if bad || res.Stream == "" {
		return PublishResult{}, jetstream.ErrInvalidJSAck
	}
	return res, nil
}

// bodies are the buffers jobs are encoded into. PublishMsg copies a
// message into the connection's buffer before it returns, so a buffer is
// free again once store returns, and a request encodes its job without
// allocating.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
