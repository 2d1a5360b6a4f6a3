package queue

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

func TestPacedRedrive(t *testing.T) {
	tests := []struct {
		name       string
		dryRun     bool
		pace       Pace
		cancelAt   int // cancel the redrive's ctx at the pause after this many (0: never)
		wantErr    error
		wantPauses []int  // Progress calls
		wantDone   int    // records redriven
		wantLeft   int    // records left in the dead-letter stream
		wantJobs   uint64 // messages in the job stream afterwards
	}{
		{name: "without a pace every job goes at once",
			wantDone: 3, wantLeft: 1, wantJobs: 3},
		{name: "a pace pauses after every batch and says how far it got",
			pace:     Pace{Batch: 1, Pause: time.Millisecond},
			wantDone: 3, wantLeft: 1, wantJobs: 3, wantPauses: []int{1, 2}},
		{name: "a batch larger than the records never pauses",
			pace:     Pace{Batch: 5, Pause: time.Millisecond},
			wantDone: 3, wantLeft: 1, wantJobs: 3},
		{name: "a dry run neither publishes nor pauses",
			dryRun: true, pace: Pace{Batch: 1, Pause: time.Millisecond},
			wantDone: 3, wantLeft: 4},
		{name: "a cancelled pause stops the redrive with what was done before it",
			pace: Pace{Batch: 1, Pause: 100 * time.Millisecond}, cancelAt: 2, wantErr: context.Canceled,
			wantDone: 2, wantLeft: 2, wantJobs: 2, wantPauses: []int{1, 2}},
		{name: "a pace the reader would not survive is refused before anything is done",
			pace:    Pace{Batch: 1, Pause: time.Second},
			wantErr: errAny, wantLeft: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js := natstest.Start(t).JetStream()
			q := openQueue(t, js, natsConfig(), nil)
			seqs := storeDeadLetters(t, q, "a", "b", "c")

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var pauses []int
			pace := tt.pace
			pace.Progress = func(n int) {
				pauses = append(pauses, n)
				if n == tt.cancelAt {
					cancel()
				}
			}
			rep, err := q.DeadLetters().Redrive(ctx, Filter{}, tt.dryRun, WithPace(pace))
			switch {
			case tt.wantErr == nil && err != nil,
				tt.wantErr == errAny && err == nil,
				tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Redrive error = %v, want %v", err, tt.wantErr)
			}
			if len(rep.Redriven) != tt.wantDone || !slices.Equal(pauses, tt.wantPauses) {
				t.Errorf("redrove %d with pauses after %v, want %d after %v", len(rep.Redriven), pauses, tt.wantDone, tt.wantPauses)
			}
			if tt.wantErr == nil && !slices.Equal(rep.Skipped, seqs[3:]) {
				t.Errorf("skipped %v, want the malformed record %v", rep.Skipped, seqs[3:])
			}
			for i, r := range rep.Redriven {
				if r.Seq != seqs[i] || tt.dryRun != (r.NewSeq == 0) {
					t.Errorf("redriven[%d] = %+v, want seq %d (stored: %v)", i, r, seqs[i], !tt.dryRun)
				}
				if r.NewSeq == 0 {
					continue
				}
				// A redriven job waits in the redrive lane, under the
				// id it had.
				m, err := q.stream.GetMsg(t.Context(), r.NewSeq)
				if err != nil {
					t.Fatalf("read redriven job %d: %v", r.NewSeq, err)
				}
				var job scanjob.Job
				if err := json.Unmarshal(m.Data, &job); err != nil {
					t.Fatal(err)
				}
				if job.Lane != scanjob.LaneRedrive || job.ID() != r.JobID {
					t.Errorf("redriven job in lane %q with id %s, want lane redrive and id %s", job.Lane, job.ID(), r.JobID)
				}
			}
			if n := streamMsgs(t, q.dlq); n != uint64(tt.wantLeft) {
				t.Errorf("dead-letter stream holds %d records, want %d", n, tt.wantLeft)
			}
			if n := streamMsgs(t, q.stream); n != tt.wantJobs {
				t.Errorf("job stream holds %d jobs, want %d", n, tt.wantJobs)
			}
		})
	}
}

// errAny stands for "some error" in a table.
var errAny = errors.New("any error")

func TestPacerPausesBetweenBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Built directly: Validate would refuse so slow a pace, which is
		// what makes the pauses easy to count here.
		var pausedAt []int
		p := &pacer{Pace: Pace{Batch: 2, Pause: time.Second, Progress: func(n int) { pausedAt = append(pausedAt, n) }}}
		start := time.Now()
		for range 5 {
			if err := p.wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d != 2*time.Second || !slices.Equal(pausedAt, []int{2, 4}) || p.n != 5 {
			t.Fatalf("5 publishes in batches of 2 took %s with pauses after %v (%d let through), want 2s after 2 and 4", d, pausedAt, p.n)
		}

		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(100 * time.Millisecond)
			cancel()
		}()
		if err := p.wait(ctx); err != nil { // 6th: within the batch
			t.Fatalf("wait within a batch = %v", err)
		}
		if err := p.wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("wait during a cancelled pause = %v", err)
		}
	})
}

func TestPaceValidate(t *testing.T) {
	tests := []struct {
		name    string
		pace    Pace
		wantErr bool
	}{
		{"the zero pace does not pause", Pace{}, false},
		{"the defaults pause 3s per read of 256", Pace{Batch: DefaultRedriveBatch, Pause: DefaultRedrivePause}, false},
		{"no pause is allowed", Pace{Batch: 1}, false},
		{"a negative batch is refused", Pace{Batch: -1, Pause: time.Second}, true},
		{"a pause without a batch is refused", Pace{Pause: time.Second}, true},
		{"a negative pause is refused", Pace{Batch: 10, Pause: -time.Second}, true},
		{"256 pauses of a second between two reads are refused", Pace{Batch: 1, Pause: time.Second}, true},
		{"pauses adding up to 30s between two reads are allowed", Pace{Batch: 256, Pause: 30 * time.Second}, false},
		{"pauses adding up to just over 30s are refused", Pace{Batch: 128, Pause: 15*time.Second + time.Millisecond}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.pace.Validate(); (err != nil) != tt.wantErr {
				t.Fatalf("Pace{%d, %s}.Validate() = %v, want error %v", tt.pace.Batch, tt.pace.Pause, err, tt.wantErr)
			}
		})
	}
}
