package admin

import "github.com/scan-bridge/scan-bridge/queue"

// DeadLetterRecord is a dead letter as the admin API and `bridge dlq`
// print it: the stored record plus its sequence, the handle for show.
type DeadLetterRecord struct {
	Seq uint64 `json:"seq"`
	queue.DeadLetter
}

// ListAnswer is the body of GET /admin/dlq.
type ListAnswer struct {
	Count int `json:"count"`
	// LimitReached: there may be more; narrow the filter or raise limit.
	LimitReached bool               `json:"limit_reached"`
	DeadLetters  []DeadLetterRecord `json:"dead_letters"`
}

// RedriveAnswer is the body of POST /admin/dlq/redrive.
type RedriveAnswer struct {
	DryRun bool `json:"dry_run"`
	// Jobs are the jobs republished (or, in a dry run, that would be).
	Jobs []RedrivenJob `json:"jobs"`
	// Skipped are records without a job (malformed messages): look at
	// them with GET /admin/dlq/{seq}, then purge them.
	Skipped []uint64 `json:"skipped"`
	// LimitReached: more records may match; repeat the request.
	LimitReached bool `json:"limit_reached"`
	// Error is set when the redrive stopped half-way; Jobs is what was
	// done before it.
	Error     string `json:"error,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// RedrivenJob is one redriven record.
type RedrivenJob struct {
	Seq   uint64 `json:"seq"`
	JobID string `json:"job_id"`
	// MsgID is the new Nats-Msg-Id; a redrive never reuses the original
	// one, which the job stream could still drop as a duplicate.
	MsgID string `json:"msg_id"`
	// Duplicate: this redrive had already been stored (a repeated redrive
	// whose delete failed); the job is in the stream once.
	Duplicate bool `json:"duplicate,omitempty"`
	// StreamSeq is the job's new sequence in the job stream (0 in a dry run).
	StreamSeq uint64 `json:"stream_seq,omitempty"`
}

// PurgeAnswer is the body of POST /admin/dlq/purge.
type PurgeAnswer struct {
	DryRun bool `json:"dry_run"`
	// Seqs are the records deleted (or, in a dry run, that would be).
	Seqs         []uint64 `json:"seqs"`
	LimitReached bool     `json:"limit_reached"`
	Error        string   `json:"error,omitempty"`
	RequestID    string   `json:"request_id,omitempty"`
}

// ErrorAnswer is the body of every refused admin request.
type ErrorAnswer struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}
