package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// maxRaw is how much of a malformed message body a dead letter keeps.
const maxRaw = 16 << 10

// How DeadLetters reads the stream: through an ephemeral consumer that
// fetches up to readAhead records at a time, and that the server deletes
// after readerInactive without a fetch (a reader whose client died goes
// away by itself). A paced redrive keeps its pauses between two fetches
// inside that (Pace.Validate).
const (
	readAhead      = 256
	readerInactive = time.Minute
)

// DeadLetter is one record of the dead-letter stream: a job HSS refused on
// its own (or a message that is not a job), with what HSS said, so an
// operator can fix the cause and redrive it.
type DeadLetter struct {
	// Seq is the record's sequence in the dead-letter stream, the handle
	// for Get; set when read, not stored.
	Seq uint64 `json:"-"`
	// Reason is ReasonRejected, ReasonMalformed, ReasonUnknownTarget
	// (then Job names the target it asked for), ReasonNotInSWR or
	// ReasonScanTimeout (given up by the scanner or the watcher; Class,
	// Status and the rest are the last HSS answer, if any); empty for a
	// record that
	// itself could not be decoded (then only Seq, Subject, Raw and Error
	// are set, Subject being the record's own).
	Reason string `json:"reason"`
	// Job is the original job; nil when the message did not decode.
	Job *scanjob.Job `json:"job,omitempty"`
	// Raw is the original body when it did not decode, cut to 16 KiB.
	Raw []byte `json:"raw,omitempty"`
	// Subject, MsgID, Stream and StreamSeq name the original message.
	Subject   string `json:"subject"`
	MsgID     string `json:"msg_id,omitempty"`
	Stream    string `json:"stream,omitempty"`
	StreamSeq uint64 `json:"stream_seq,omitempty"`
	// Class, Status, ErrorCode, ErrorMsg and RequestID are the Verdict of
	// the call that carried the item alone.
	Class     string `json:"class"`
	Status    int    `json:"status,omitempty"`
	ErrorCode string `json:"error_code,omitempty"`
	ErrorMsg  string `json:"error_msg,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// dedupe, when set, is the record's message id in the dead-letter
	// stream instead of stream:seq (DeadLetterJob: there is no delivery).
	dedupe string
	// Error is the error text: Scan's error, or why the message is not a job.
	Error string `json:"error,omitempty"`
	// Attempts is how many times the message was delivered (NumDelivered).
	Attempts uint64 `json:"attempts"`
	// FirstSeen is when the bridge accepted the job (AcceptedAt, else when
	// the stream stored the message); FailedAt when it was dead-lettered.
	FirstSeen time.Time `json:"first_seen"`
	FailedAt  time.Time `json:"failed_at"`
}

func newDeadLetter(h *held, reason string, v Verdict, errMsg string, now time.Time) DeadLetter {
	rec := DeadLetter{
		Reason: reason, Subject: h.d.Subject, MsgID: h.d.MsgID, Stream: h.d.Stream, StreamSeq: h.d.StreamSeq,
		Class: v.Class.String(), Status: v.Status, ErrorCode: v.Code, ErrorMsg: v.Message, RequestID: v.RequestID,
		Error: errMsg, Attempts: h.d.NumDelivered, FirstSeen: h.d.Stored.UTC(), FailedAt: now.UTC(),
	}
	if reason == ReasonMalformed {
		raw := h.msg.Data()
		rec.Raw = raw[:min(len(raw), maxRaw)]
		return rec
	}
	job := h.job
	rec.Job = &job
	if !job.AcceptedAt.IsZero() {
		rec.FirstSeen = job.AcceptedAt.UTC()
	}
	return rec
}

// deadLetter stores rec in the dead-letter stream under the original
// subject's image type and namespace tokens, so a namespace filter is a
// subject filter. Its message id is the original stream and sequence: a
// message dead-lettered twice (its Term was lost and it came back) is
// stored once.
func (q *Queue) deadLetter(ctx context.Context, rec DeadLetter) error {
	subject := q.dlqSubject(rec)
	body, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("dead-letter %s: encode: %w", rec.MsgID, err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = body
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(q.cfg.DLQ.Name)}
	if rec.dedupe != "" {
		opts = append(opts, jetstream.WithMsgID(rec.dedupe))
	} else if rec.StreamSeq != 0 {
		opts = append(opts, jetstream.WithMsgID(fmt.Sprintf("%s:%d", rec.Stream, rec.StreamSeq)))
	}
	if _, err := q.js.PublishMsg(ctx, msg, opts...); err != nil {
		return fmt.Errorf("dead-letter %s to %s: %w", rec.MsgID, subject, err)
	}
	return nil
}

// DeadLetterJob stores a dead-letter record for job, whose message was
// settled already: the watcher gives up an image HSS accepted (so its job
// was acked) but never finished scanning (ReasonScanTimeout). reason is a
// Reason* constant, v the last HSS answer (zero if none), msg the human
// text (DeadLetter.Error). The record's message id is the job id and the
// reason, so a watcher that gives the same job up twice (it crashed
// between the two) stores one record within the stream's duplicate
// window. It returns once the record is stored (PubAck) or could not be;
// the record is redriven like any other (DeadLetters.Redrive).
func (q *Queue) DeadLetterJob(ctx context.Context, job scanjob.Job, reason string, v Verdict, msg string) error {
	if reason == "" {
		return fmt.Errorf("dead-letter %s: no reason", job.ID())
	}
	subject, err := jobSubject(q.cfg.Stream.SubjectPrefix, job)
	if err != nil {
		return fmt.Errorf("dead-letter %s: %w", job.ID(), err)
	}
	now := time.Now().UTC()
	rec := DeadLetter{
		Reason: reason, Job: &job, Subject: subject, MsgID: job.ID(), Stream: q.cfg.Stream.Name,
		Class: v.Class.String(), Status: v.Status, ErrorCode: v.Code, ErrorMsg: v.Message, RequestID: v.RequestID,
		Error: msg, FirstSeen: job.AcceptedAt.UTC(), FailedAt: now,
		dedupe: job.ID() + ":" + reason,
	}
	if job.AcceptedAt.IsZero() {
		rec.FirstSeen = now
	}
	if err := q.deadLetter(ctx, rec); err != nil {
		return err
	}
	q.metrics.deadLetter(reason)
	return nil
}

func (q *Queue) dlqSubject(rec DeadLetter) string {
	if rest, ok := strings.CutPrefix(rec.Subject, q.cfg.Stream.SubjectPrefix+"."); ok && rest != "" {
		return q.cfg.DLQ.SubjectPrefix + "." + rest
	}
	if rec.Job != nil {
		if s, err := jobSubject(q.cfg.DLQ.SubjectPrefix, *rec.Job); err == nil {
			return s
		}
	}
	return q.cfg.DLQ.SubjectPrefix + ".unknown"
}

// DeadLetters lists, redrives and purges dead-letter records. The admin
// API and `bridge dlq` use it, the latter on an attached Queue (Attach); it
// needs no consumer running.
type DeadLetters struct{ q *Queue }

// DeadLetters gives access to the dead-letter stream.
func (q *Queue) DeadLetters() *DeadLetters { return &DeadLetters{q: q} }

// Filter selects dead letters; zero fields match everything.
type Filter struct {
	// Namespace matches the original job's namespace exactly (a subject
	// filter, evaluated by the server).
	Namespace string
	// ErrorCode matches the HSS error_code exactly.
	ErrorCode string
	// Reason matches why the job was parked exactly (ReasonRejected,
	// ReasonMalformed, ...): after SWR catches up, an operator redrives
	// the images given up as not in SWR and nothing else.
	Reason string
	// OlderThan keeps records dead-lettered more than this long ago.
	OlderThan time.Duration
	// Limit stops after this many matches, oldest first; 0 is no limit.
	Limit int
}

// ErrNotFound is wrapped when a dead-letter sequence does not exist.
var ErrNotFound = errors.New("dead letter not found")

// List returns the records f selects, oldest first.
func (d *DeadLetters) List(ctx context.Context, f Filter) ([]DeadLetter, error) {
	var out []DeadLetter
	err := d.each(ctx, f, func(rec DeadLetter) error {
		out = append(out, rec)
		return nil
	})
	return out, err
}

// Get returns the record at seq of the dead-letter stream.
func (d *DeadLetters) Get(ctx context.Context, seq uint64) (DeadLetter, error) {
	m, err := d.q.dlq.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("get dead letter %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("get dead letter %d: %w", seq, err)
	}
	return decodeDeadLetter(seq, m.Subject, m.Data), nil
}

// Purge deletes the records f selects and returns their sequences (with
// dryRun, only returns them).
func (d *DeadLetters) Purge(ctx context.Context, f Filter, dryRun bool) ([]uint64, error) {
	var seqs []uint64
	err := d.each(ctx, f, func(rec DeadLetter) error {
		if !dryRun {
			if err := d.q.dlq.DeleteMsg(ctx, rec.Seq); err != nil {
				return fmt.Errorf("purge dead letter %d: %w", rec.Seq, err)
			}
		}
		seqs = append(seqs, rec.Seq)
		return nil
	})
	if !dryRun && len(seqs) > 0 {
		d.q.log.Info("dead letters purged", "count", len(seqs), "namespace", f.Namespace, "error_code", f.ErrorCode, "reason", f.Reason)
	}
	return seqs, err
}

// each calls fn for every record f selects, oldest first, reading the
// stream through a short-lived ephemeral consumer (no acks, memory state)
// that sees what was stored when it was created. fn may delete the record.
func (d *DeadLetters) each(ctx context.Context, f Filter, fn func(DeadLetter) error) error {
	subject := d.q.cfg.DLQ.SubjectPrefix + ".>"
	if f.Namespace != "" {
		subject = namespaceFilter(d.q.cfg.DLQ.SubjectPrefix, f.Namespace)
	}
	cons, err := d.q.dlq.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     subject,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: readerInactive,
		MemoryStorage:     true,
	})
	if err != nil {
		return fmt.Errorf("read dead letters %s: %w", subject, err)
	}
	info := cons.CachedInfo()
	defer func() {
		// Best effort: InactiveThreshold removes it anyway.
		_ = d.q.dlq.DeleteConsumer(context.WithoutCancel(ctx), info.Name)
	}()

	cutoff := time.Now().Add(-f.OlderThan)
	matched := 0
	for remaining := info.NumPending; remaining > 0; {
		batch, err := cons.Fetch(int(min(remaining, readAhead)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("read dead letters %s: %w", subject, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			remaining--
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("read dead letters %s: %w", subject, err)
			}
			rec := decodeDeadLetter(md.Sequence.Stream, m.Subject(), m.Data())
			if f.ErrorCode != "" && rec.ErrorCode != f.ErrorCode ||
				f.Reason != "" && rec.Reason != f.Reason ||
				f.OlderThan > 0 && !rec.FailedAt.Before(cutoff) {
				continue
			}
			if err := fn(rec); err != nil {
				return err
			}
			if matched++; f.Limit > 0 && matched >= f.Limit {
				return nil
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("read dead letters %s: %w", subject, err)
		}
		if got == 0 {
			// Records announced at the start were deleted meanwhile
			// (another purge or redrive): nothing is left to read.
			return nil
		}
	}
	return nil
}

func decodeDeadLetter(seq uint64, subject string, data []byte) DeadLetter {
	var rec DeadLetter
	if err := json.Unmarshal(data, &rec); err != nil {
		return DeadLetter{Seq: seq, Subject: subject, Raw: data[:min(len(data), maxRaw)],
			Error: fmt.Sprintf("undecodable dead-letter record: %v", err)}
	}
	rec.Seq = seq
	return rec
}
