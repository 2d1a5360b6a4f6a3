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
	for _, tt := range []struct {
		api        string
		sync, scan string // the simulator's API names
	}{
		{CatalogSWRv5, hsstest.APIRunImageSynchronize, hsstest.APIBatchScan},
		{CatalogTasks, hsstest.APICreateImageSynchronizeTask, hsstest.APICreateManualImageScanTask},
	} {
		t.Run(tt.api, func(t *testing.T) { dryRunLifecycle(t, tt.api, tt.sync, tt.scan) })
	}
}

// dryRunLifecycle runs one image through a dry run's presence gate and
// scan with hss.api set to api: deferred until the simulator's HSS has
// synced the pushed image, then scanned once, then scanning and success.
func dryRunLifecycle(t *testing.T, api, syncAPI, scanAPI string) {
	synctest.Test(t, func(t *testing.T) {
		c := DefaultConfig()
		c.API = api
		h, err := NewHSS(c, Options{DryRun: true})
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
		if n := h.sim.Calls(syncAPI).Calls; n != 1 {
			t.Errorf("%d syncs (%s), want the gate's one", n, syncAPI)
		}
		if n := h.sim.Calls(scanAPI).Calls; n != 1 {
			t.Errorf("%d scans (%s), want one, of a known image", n, scanAPI)
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
