package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// Redriven is one record Redrive republished (or would, in a dry run).
type Redriven struct {
	Seq       uint64 // the dead letter's sequence, deleted after the PubAck
	JobID     string
	MsgID     string // the new Nats-Msg-Id
	Duplicate bool   // the stream had already stored this redrive
	NewSeq    uint64 // the job's new sequence in the job stream
}

// RedriveReport says what Redrive did.
type RedriveReport struct {
	Redriven []Redriven
	// Skipped are records without a job to republish (malformed messages,
	// undecodable records); purge them once looked at.
	Skipped []uint64
}

// RedriveOption changes how Redrive republishes.
type RedriveOption func(*redriveOptions)

type redriveOptions struct {
	pace Pace
}

// WithPace spaces the republishes of a redrive by p. Redrive refuses a
// pace that fails p.Validate before it reads anything.
func WithPace(p Pace) RedriveOption {
	return func(o *redriveOptions) { o.pace = p }
}

// Redrive republishes the job of every record f selects into the job
// stream, then deletes the record. The new message id is
// job.ID()+"-redrive-"+seq: the original id would be dropped as a duplicate
// if it is still in the duplicate window, and a redrive run twice (its
// delete failed) stores the job once. HSS's rate limit is not touched here:
// the consumer spends permits on the redriven jobs like on any other.
// Without WithPace the republishes go one after the other, each waiting for
// its PubAck. With dryRun nothing is published or deleted (and nothing
// paused). It stops at the first error and reports what was done before it.
func (d *DeadLetters) Redrive(ctx context.Context, f Filter, dryRun bool, opts ...RedriveOption) (RedriveReport, error) {
	var o redriveOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.pace.Validate(); err != nil {
		return RedriveReport{}, err
	}
	p := &pacer{Pace: o.pace}
	var rep RedriveReport
	err := d.each(ctx, f, func(rec DeadLetter) error {
		if rec.Job == nil {
			rep.Skipped = append(rep.Skipped, rec.Seq)
			return nil
		}
		r := Redriven{Seq: rec.Seq, JobID: rec.Job.ID(), MsgID: fmt.Sprintf("%s-redrive-%d", rec.Job.ID(), rec.Seq)}
		if !dryRun {
			if err := p.wait(ctx); err != nil {
				return fmt.Errorf("redrive dead letter %d: pause between batches: %w", rec.Seq, err)
			}
			job := *rec.Job
			// A redriven job waits in the redrive lane: it uses only the
			// quota fresh pushes leave (docs/scheduling.md, "Lanes"). Its
			// id does not change with the lane.
			job.Lane = scanjob.LaneRedrive
			if restartsClock(rec.Reason) {
				// Given up because a deadline since AcceptedAt passed:
				// with the old AcceptedAt it would be given up again at
				// once. A redrive is a new start (store sets now).
				job.AcceptedAt = time.Time{}
			}
			res, err := d.q.publish(ctx, job, r.MsgID)
			if err != nil {
				return fmt.Errorf("redrive dead letter %d: %w", rec.Seq, err)
			}
			r.Duplicate, r.NewSeq = res.Duplicate, res.Seq
			if err := d.q.dlq.DeleteMsg(ctx, rec.Seq); err != nil {
				return fmt.Errorf("redrive dead letter %d: delete after republish: %w", rec.Seq, err)
			}
			d.q.log.Info("dead letter redriven", "job_id", r.JobID, "dlq_seq", rec.Seq, "msg_id", r.MsgID, "stream_seq", r.NewSeq)
		}
		rep.Redriven = append(rep.Redriven, r)
		return nil
	})
	return rep, err
}

// restartsClock reports whether a redriven job of this reason gets a new
// AcceptedAt: the reasons whose deadline counts from it (the scanner's
// presence timeout, the watcher's scan timeout).
func restartsClock(reason string) bool {
	return reason == ReasonNotInSWR || reason == ReasonScanTimeout
}

// The pace `bridge dlq redrive` uses unless told otherwise: 100
// republishes, then a pause of a second. That is about what HSS drains (5
// calls a minute of up to 1000 items), so a large redrive neither fills the
// job stream's max_bytes (and makes webhooks answer 503) nor grows the
// duplicate window's memory much faster than the consumer empties the
// stream.
const (
	DefaultRedriveBatch = 100
	DefaultRedrivePause = time.Second
)

// maxReaderIdle bounds the pauses of a paced redrive between two fetches
// of the dead-letter reader: half of readerInactive, so a slow redrive
// keeps its reader with room to spare.
const maxReaderIdle = readerInactive / 2

// Pace spaces the republishes of a redrive: Batch of them, then a pause of
// Pause, so a redrive of many records does not fill the job stream faster
// than the consumer empties it. The zero Pace does not pause; the admin
// API redrives that way, bounding each request to a few records instead.
type Pace struct {
	// Batch is how many jobs are republished between two pauses; 0 never
	// pauses.
	Batch int
	// Pause is the wait between two batches.
	Pause time.Duration
	// Progress, when set, is called before each pause with how many jobs
	// were republished so far, e.g. for a progress line.
	Progress func(republished int)
}

// Validate refuses a pace that cannot work: a negative batch or pause, a
// pause without a batch, and pauses that add up to more than maxReaderIdle
// per readAhead records read, after which the server would drop the
// dead-letter reader half-way through the redrive.
func (p Pace) Validate() error {
	switch {
	case p.Batch < 0:
		return fmt.Errorf("redrive pace: batch %d: want 0 (no pauses) or more", p.Batch)
	case p.Pause < 0:
		return fmt.Errorf("redrive pace: pause %s: want 0 or more", p.Pause)
	case p.Batch == 0 && p.Pause > 0:
		return fmt.Errorf("redrive pace: pause %s without a batch: give the number of jobs between two pauses", p.Pause)
	case p.Batch == 0:
		return nil
	}
	if idle := time.Duration((readAhead+p.Batch-1)/p.Batch) * p.Pause; idle > maxReaderIdle {
		return fmt.Errorf("redrive pace: batch %d with pause %s pauses %s per %d records read; keep it within %s "+
			"(larger batches or shorter pauses), or the server drops the reader half-way",
			p.Batch, p.Pause, idle, readAhead, maxReaderIdle)
	}
	return nil
}

// pacer applies a Pace to one redrive. Not safe for concurrent use: a
// redrive republishes one record at a time.
type pacer struct {
	Pace
	n int // republishes let through
}

// wait returns when the next republish may go: at once within a batch,
// after the pause between batches, or when ctx is done.
func (p *pacer) wait(ctx context.Context) error {
	if p.Batch > 0 && p.Pause > 0 && p.n > 0 && p.n%p.Batch == 0 {
		if p.Progress != nil {
			p.Progress(p.n)
		}
		t := time.NewTimer(p.Pause)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.n++
	return nil
}
