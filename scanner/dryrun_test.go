package scanner

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// A dry run keeps the presence gate on, and its simulator learns an image
// from the push the job reports (replicated into its SWR, then synced), not
// from the scan that names it: the first look defers the job, a later
// one finds the image and scans it, and the simulator's scan runs to a
// result. On a fake clock.
func TestDryRunRunsThePresenceGateAgainstTheSimulator(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := NewHSS(DefaultConfig(), Options{DryRun: true})
		mustNot(t, err)
		if h.presence == nil {
			t.Fatal("the presence gate is off in a dry run")
		}
		j := scanjob.Job{Receiver: "harbor", Registry: "harbor", Namespace: "team", Image: "app", Tag: "1",
			Target: testTarget, AcceptedAt: time.Now()}
		start := time.Now()
		var deferred []string
		for {
			err := h.Scan(t.Context(), testTarget, []scanjob.Job{j})
			if err == nil {
				break
			}
			p, ok := errors.AsType[*queue.Partial](err)
			if !ok || len(p.Deferred) != 1 {
				t.Fatalf("scan: %v, want the job deferred or scanned", err)
			}
			d := p.Deferred[j.ItemKey()]
			deferred = append(deferred, d.Reason)
			if len(deferred) > 10 {
				t.Fatalf("still deferred after %s: %v", time.Since(start), deferred)
			}
			time.Sleep(d.Delay)
		}
		if len(deferred) == 0 {
			t.Error("scanned at the first look: the simulator knew the image before its push was replicated and synced")
		}
		if n := h.sim.Calls(hsstest.APIRunImageSynchronize).Calls; n != 1 {
			t.Errorf("%d syncs, want the gate's one", n)
		}
		if n := h.sim.Calls(hsstest.APIBatchScan).Calls; n != 1 {
			t.Errorf("%d batch-scans, want one, of a known image", n)
		}
		status := func() string {
			for _, im := range h.sim.Catalog() {
				if im.Ref == (hsstest.Ref{Namespace: "team", Image: "app", Tag: "1"}) {
					return im.ScanStatus
				}
			}
			return "absent"
		}
		time.Sleep(dryRunScanQueue + time.Second)
		if s := status(); s != "scanning" {
			t.Errorf("status %q after the queue delay, want scanning", s)
		}
		time.Sleep(dryRunScanLength)
		if s := status(); s != "success" {
			t.Errorf("status %q after the scan, want success", s)
		}
	})
}
