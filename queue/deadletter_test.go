package queue

import (
	"testing"
	"time"
)

// storeDeadLetters dead-letters the jobs of namespace team (each rejected
// with HSS.0011) and one malformed message, the way the consumer does, and
// returns their sequences: jobs first, the malformed one last.
func storeDeadLetters(t *testing.T, q *Queue, images ...string) []uint64 {
	t.Helper()
	ctx := t.Context()
	for i, image := range images {
		job := testJob(targetA, "team", image, "1")
		rec := DeadLetter{Reason: ReasonRejected, Job: &job, Subject: "scanjobs.private_image.team", MsgID: job.ID(),
			Stream: DefaultStreamName, StreamSeq: uint64(i + 1), Class: "permanent", Status: 400, ErrorCode: "HSS.0011",
			FailedAt: time.Now().UTC()}
		if err := q.deadLetter(ctx, rec); err != nil {
			t.Fatalf("dead-letter %s: %v", image, err)
		}
	}
	junk := DeadLetter{Reason: ReasonMalformed, Raw: []byte("{oops"), Subject: "scanjobs.private_image.junk",
		Stream: DefaultStreamName, StreamSeq: uint64(len(images) + 1), Class: "permanent", FailedAt: time.Now().UTC()}
	if err := q.deadLetter(ctx, junk); err != nil {
		t.Fatalf("dead-letter the malformed message: %v", err)
	}
	recs, err := q.DeadLetters().List(ctx, Filter{})
	if err != nil || len(recs) != len(images)+1 {
		t.Fatalf("stored %d dead letters, %v; want %d", len(recs), err, len(images)+1)
	}
	seqs := make([]uint64, len(recs))
	for i, r := range recs {
		seqs[i] = r.Seq
	}
	return seqs
}
