package admin

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

func TestSeqList(t *testing.T) {
	tests := []struct {
		seqs []uint64
		want string
	}{
		{nil, ""},
		{[]uint64{7}, " (seq 7)"},
		{[]uint64{1, 2, 3}, " (seq 1, 2, 3)"},
		{[]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, " (seq 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, … 2 more)"},
	}
	for _, tt := range tests {
		if got := SeqList(tt.seqs); got != tt.want {
			t.Errorf("SeqList(%v) = %q, want %q", tt.seqs, got, tt.want)
		}
	}
}

// The table shows why each record is there: a job HSS refused shows its
// status and code, a forged job its reason, a message that was no job what
// it was.
func TestWriteTable(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	job := &scanjob.Job{Namespace: "team", Image: "app", Tag: "1.0"}
	recs := []queue.DeadLetter{
		{Seq: 1, FailedAt: at, Job: job, Reason: queue.ReasonRejected, Status: 400, ErrorCode: "HSS.0011", Attempts: 1, RequestID: "r1"},
		{Seq: 2, FailedAt: at, Job: job, Reason: queue.ReasonUnknownTarget, Attempts: 1},
		{Seq: 3, FailedAt: at, Reason: queue.ReasonMalformed, Subject: "scanjobs.x"},
	}
	var b bytes.Buffer
	if err := WriteTable(&b, recs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "REASON") {
		t.Fatalf("table:\n%s", b.String())
	}
	for i, want := range [][]string{
		{"1", "team/app:1.0", queue.ReasonRejected, "400", "HSS.0011", "r1"},
		{"2", "team/app:1.0", queue.ReasonUnknownTarget, "-"},
		{"3", "(" + queue.ReasonMalformed + ") scanjobs.x"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("row %d %q lacks %q", i+1, lines[i+1], w)
			}
		}
	}
	b.Reset()
	if err := WriteTable(&b, nil); err != nil || b.String() != "no dead letters match\n" {
		t.Fatalf("empty table = %q, %v", b.String(), err)
	}
}
