//go:build linux

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/queue"
)

// TestPoisonItemIsIsolatedAndRedriven hides one image HSS refuses (400
// HSS.0001, which refuses the whole batch) among good ones of the same
// namespace, so it travels in a batch with them. The batch must be split
// until the bad image is alone: it alone lands in the dead-letter stream,
// with HSS's status and code, and every other image reaches HSS. Then the
// cause is "fixed" (HSS accepts it) and the dead letter is redriven with
// `bridge dlq redrive`, as an operator would: it reaches HSS too, so even a
// dead-lettered job is not lost.
func TestPoisonItemIsIsolatedAndRedriven(t *testing.T) {
	needBridge(t, false)
	r := newRig(t, false)
	// One group, one call: the poison shares its batch with 23 others.
	r.b.Queue.Consumer.MaxItems = 24
	r.b.Queue.Consumer.Linger = 500 * time.Millisecond
	r.b.start()

	imgs := r.d.images(24)
	for i := range imgs {
		imgs[i].NS = "team"
	}
	poison := imgs[11]
	fix := r.hss.RefuseImage(poison.NS, poison.Name, poison.Tag)
	r.d.sendImages(t, imgs, 4, 3, http.StatusAccepted)
	sent := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), drainBound)
	defer cancel()
	var dls []deadLetter
	natstest.Eventually(t, drainBound, "the poison in the dead-letter stream", func() bool {
		dls = listDeadLetters(ctx, t, r.b)
		return len(dls) > 0
	})
	bisection := 0
	for _, ref := range r.hss.Refusals() {
		if ref.Status == http.StatusBadRequest {
			bisection++
		}
	}
	excused := map[string]bool{poison.key(): true}
	o := r.settle("poison item among 23 good ones", sent, excused,
		fmt.Sprintf("batch split until the poison was alone: %d calls refused 400", bisection))
	if o.deadLettered != 1 {
		t.Errorf("%d accepted images are neither at HSS nor excused as the poison", o.deadLettered)
	}
	// Everything else is at HSS, so the dead-letter stream is final now.
	dls = listDeadLetters(ctx, t, r.b)
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want only the poison: %+v", len(dls), dls)
	}
	dl := dls[0]
	if dl.Job == nil || dl.Job.Namespace+"/"+dl.Job.Image+":"+dl.Job.Tag != poison.key() ||
		dl.Status != http.StatusBadRequest || dl.ErrorCode != "HSS.0001" || dl.Reason != queue.ReasonRejected {
		t.Fatalf("dead letter %+v, want %s rejected with 400 HSS.0001", dl, poison.key())
	}

	fix()
	redriveAt := time.Now()
	out, err := r.b.cli(ctx, "dlq", "redrive", "--yes")
	if err != nil {
		t.Fatal(err)
	}
	r.settle("poison item redriven after the fix", redriveAt, nil,
		"`bridge dlq redrive --yes`; drain counted from the redrive")
	if dls = listDeadLetters(ctx, t, r.b); len(dls) != 0 {
		t.Fatalf("%d dead letters after the redrive, want none; redrive said:\n%s", len(dls), out)
	}
}

// deadLetter is one line of `bridge dlq list --json`: the stored record
// and its sequence in the dead-letter stream.
type deadLetter struct {
	Seq uint64 `json:"seq"`
	queue.DeadLetter
}

// listDeadLetters runs `bridge dlq list --json` against the running bridge.
func listDeadLetters(ctx context.Context, t *testing.T, b *bridge) []deadLetter {
	t.Helper()
	out, err := b.cli(ctx, "dlq", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var dls []deadLetter
	for line := range strings.Lines(out) {
		var dl deadLetter
		if err := json.Unmarshal([]byte(line), &dl); err != nil {
			t.Fatalf("bridge dlq list --json: line %q: %v", line, err)
		}
		dls = append(dls, dl)
	}
	return dls
}
