package admin

// The image lifecycles as text, for `bridge status`: the same records the
// image routes answer, as a table of images, the lifecycle of one image,
// or JSON lines.

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scan-bridge/scan-bridge/lifecycle"
)

// timeOrDash is t in UTC, RFC 3339, or "-" when zero.
func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// lastAnswer is "API status code message (request id)", or "-".
func lastAnswer(a lifecycle.Answer) string {
	if a.API == "" {
		return "-"
	}
	parts := []string{a.API}
	if a.Status != 0 {
		parts = append(parts, strconv.Itoa(a.Status))
	}
	if a.Code != "" {
		parts = append(parts, a.Code)
	}
	if a.Message != "" {
		parts = append(parts, strconv.Quote(clipText(a.Message, 120)))
	}
	if a.RequestID != "" {
		parts = append(parts, "(request "+a.RequestID+")")
	}
	return strings.Join(parts, " ")
}

// clipText shortens s to n bytes for a table cell, marking the cut.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// WriteImagesTable prints one line per image: where it is, since when
// (now minus its acceptance, for images in progress) and why.
func WriteImagesTable(w io.Writer, recs []lifecycle.Record, now time.Time) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "no images match")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tSTATE\tACCEPTED AT\tWAITING\tUPDATED AT\tSCANS\tCHECKS\tREASON\tLAST HSS ANSWER")
	for _, r := range recs {
		waiting := "-"
		if !r.State.Terminal() && !r.AcceptedAt.IsZero() {
			waiting = now.Sub(r.AcceptedAt).Truncate(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.Ref(), r.State, timeOrDash(r.AcceptedAt), waiting,
			timeOrDash(r.UpdatedAt), r.ScanAttempts, r.PresenceChecks, orDash(clipText(r.Reason, 80)), lastAnswer(r.LastAnswer))
	}
	return tw.Flush()
}

// WriteImageLifecycle prints one image's record in full: identity, times,
// findings, last HSS answer and the history of its states.
func WriteImageLifecycle(w io.Writer, r lifecycle.Record) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("image", r.Ref())
	row("state", string(r.State))
	if r.Reason != "" {
		row("reason", r.Reason)
	}
	row("receiver", r.Receiver+" ("+r.Registry+")")
	if r.RegistryHost != "" {
		row("registry host", r.RegistryHost)
	}
	row("target", fmt.Sprintf("%s project %s %s", r.Target.Region, r.Target.ProjectID, r.Target.ImageType))
	if r.InstanceID != "" {
		row("instance", r.InstanceID+" "+r.InstanceURL)
	}
	row("request id", orDash(r.RequestID))
	row("job id", orDash(r.JobID))
	row("generation", strconv.Itoa(r.Generation))
	row("pushed at", timeOrDash(r.PushedAt))
	row("accepted at", timeOrDash(r.AcceptedAt))
	row("sync requested at", timeOrDash(r.SyncRequestedAt))
	row("scan requested at", timeOrDash(r.ScanRequestedAt))
	row("scan started at", timeOrDash(r.ScanStartedAt))
	row("finished at", timeOrDash(r.FinishedAt))
	row("updated at", timeOrDash(r.UpdatedAt))
	row("scan attempts", strconv.Itoa(r.ScanAttempts))
	row("presence checks", strconv.Itoa(r.PresenceChecks))
	if r.HSS != (lifecycle.HSSFacts{}) {
		row("HSS image", fmt.Sprintf("id %d, image id %s, scan status %s, scanned at %s", r.HSS.ID, orDash(r.HSS.ImageID),
			orDash(r.HSS.ScanStatus), timeOrDash(r.HSS.ScannedAt)))
		row("findings", fmt.Sprintf("%d vulnerabilities, %d malicious files, %d unsafe settings",
			r.HSS.Vulnerabilities, r.HSS.MaliciousFiles, r.HSS.UnsafeSettings))
	}
	row("last HSS answer", lastAnswer(r.LastAnswer))
	if r.State.Terminal() {
		row("result published", strconv.FormatBool(r.Published))
	}
	row("key", r.Key)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.History) == 0 {
		return nil
	}
	fmt.Fprintln(w, "history:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, h := range r.History {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", timeOrDash(h.At), h.State, h.Note)
	}
	return tw.Flush()
}

// WriteImagesJSONLines prints one record per line, as the image routes
// show them.
func WriteImagesJSONLines(w io.Writer, recs []lifecycle.Record) error {
	enc := json.NewEncoder(w)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write image %s: %w", r.Key, err)
		}
	}
	return nil
}
