package admin

// The same views as text, for `bridge dlq`: a table and JSON lines of
// records and the report of a redrive. They sit beside the HTTP answers so
// an operator sees a dead letter the same way from either door.

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scan-bridge/scan-bridge/queue"
)

// WriteTable prints records as a table, one per line.
func WriteTable(w io.Writer, recs []queue.DeadLetter) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "no dead letters match")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tFAILED AT\tIMAGE\tREASON\tSTATUS\tERROR CODE\tATTEMPTS\tREQUEST ID")
	for _, r := range recs {
		status := "-"
		if r.Status != 0 {
			status = strconv.Itoa(r.Status)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Seq, r.FailedAt.UTC().Format(time.RFC3339), recordImage(r),
			orDash(r.Reason), status, orDash(r.ErrorCode), r.Attempts, orDash(r.RequestID))
	}
	return tw.Flush()
}

// recordImage is namespace/image:tag, or what the record is when it holds
// no job.
func recordImage(r queue.DeadLetter) string {
	if r.Job != nil {
		return r.Job.Repository() + ":" + r.Job.Tag
	}
	reason := r.Reason
	if reason == "" {
		reason = "undecodable record"
	}
	return "(" + reason + ") " + r.Subject
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteJSONLines prints one record per line, as the admin API shows them.
func WriteJSONLines(w io.Writer, recs []queue.DeadLetter) error {
	enc := json.NewEncoder(w)
	for _, r := range recs {
		if err := enc.Encode(DeadLetterRecord{Seq: r.Seq, DeadLetter: r}); err != nil {
			return fmt.Errorf("write dead letter %d: %w", r.Seq, err)
		}
	}
	return nil
}

// WriteRedriveReport prints what a redrive did (also when it stopped
// half-way, so the operator knows where it stopped).
func WriteRedriveReport(w io.Writer, stream string, rep queue.RedriveReport) {
	for _, r := range rep.Redriven {
		dup := ""
		if r.Duplicate {
			dup = " (already stored by an earlier redrive)"
		}
		fmt.Fprintf(w, "redriven %d → %s seq %d, msg id %s%s\n", r.Seq, stream, r.NewSeq, r.MsgID, dup)
	}
	fmt.Fprintf(w, "redrove %d job(s) into stream %s; the bridge sends them to HSS under its rate limit.\n", len(rep.Redriven), stream)
	if len(rep.Skipped) > 0 {
		fmt.Fprintf(w, "skipped %d record(s) without a job%s: look at them with `bridge dlq show SEQ`, then purge them.\n",
			len(rep.Skipped), SeqList(rep.Skipped))
	}
}

// SeqList is " (seq 1, 2, 3)", shortened past ten.
func SeqList(seqs []uint64) string {
	if len(seqs) == 0 {
		return ""
	}
	parts := make([]string, 0, min(len(seqs), 10)+1)
	for _, s := range seqs[:min(len(seqs), 10)] {
		parts = append(parts, strconv.FormatUint(s, 10))
	}
	if len(seqs) > 10 {
		parts = append(parts, fmt.Sprintf("… %d more", len(seqs)-10))
	}
	return " (seq " + strings.Join(parts, ", ") + ")"
}
