//go:build linux

package faults

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// TestRetriedDeliveryIsOneScan sends one registry delivery (a Harbor push,
// same payload byte for byte) again, as a registry does when it did not
// see the answer, and checks that HSS scans the image once. While the NATS
// server runs, the job stream drops the retry itself: it is answered 202
// "duplicate" and nothing new is stored. Across a NATS restart the stream
// has forgotten the id (see streamForgets), so the retry is stored again,
// and it is the bridge's accepted set (queue.AcceptedConfig) that acks it
// without a second scan.
func TestRetriedDeliveryIsOneScan(t *testing.T) {
	needBridge(t, false)
	cases := []struct {
		name     string
		embedded bool
		// copies are sent at once (1: the first delivery alone).
		copies int
		// between runs after the first delivery reached HSS and before the
		// retry; nil retries at once.
		between func(t *testing.T, r *rig)
		// streamForgets, when set, says why the job stream no longer knows
		// the first delivery's id when the retry comes: the retry may be
		// stored again, and then the bridge must count it as already
		// accepted (scanbridge_queue_already_accepted_total) instead of
		// scanning it.
		streamForgets string
	}{
		{name: "retried three seconds after the first delivery was scanned", copies: 1,
			// The gap is the scenario (a registry's retry interval), not a
			// wait for the bridge.
			between: func(*testing.T, *rig) { time.Sleep(3 * time.Second) }},
		{name: "four copies delivered at once", copies: 4},
		{name: "retried after the bridge restarted (external NATS kept running)", copies: 1,
			between: func(t *testing.T, r *rig) { r.b.term(30 * time.Second); r.b.start() }},
		{name: "retried after the bridge restarted (embedded NATS)", embedded: true, copies: 1,
			between: func(t *testing.T, r *rig) { r.b.term(30 * time.Second); r.b.start() },
			streamForgets: "the job stream is a WorkQueue, so an acked job is deleted, and nats-server rebuilds its " +
				"Nats-Msg-Id window at start only from the messages still stored (stream.go rebuildDedupe); with the " +
				"embedded NATS every bridge restart is a NATS restart"},
		{name: "retried after NATS restarted", copies: 1,
			between: func(t *testing.T, r *rig) {
				r.nats.Stop()
				r.nats.Restart()
				r.b.waitReady(30 * time.Second)
			},
			streamForgets: "a NATS server restart forgets the message ids of acked (deleted) jobs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.embedded)
			r.b.start()
			ctx := context.Background()
			img := image{NS: "dup", Name: "app", Tag: "1.0"}
			digest := "sha256:" + fmt.Sprintf("%064x", 0xd0d0)

			answers := make([]answer, tc.copies)
			var wg sync.WaitGroup
			for i := range answers {
				wg.Go(func() {
					status, ans, err := r.d.pushHarbor(ctx, img, digest)
					if err != nil || status != http.StatusAccepted || len(ans.Jobs) != 1 {
						t.Errorf("delivery %d: %d %+v %v, want 202 with one job", i, status, ans, err)
					}
					answers[i] = ans
				})
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			if stored := countStored(answers); stored != 1 {
				t.Fatalf("%d of %d simultaneous copies answered as newly stored, want 1", stored, tc.copies)
			}
			natstest.Eventually(t, drainBound, "the first delivery at HSS", func() bool { return deliveries(r.hss)[img.key()] > 0 })
			first := time.Now()
			if tc.between != nil {
				tc.between(t, r)
			}
			// With the in-test NATS the job stream itself says whether the
			// retry stored anything.
			lastSeq := func() uint64 { return 0 }
			if r.nats != nil {
				js := operatorJS(r.nats)
				lastSeq = func() uint64 {
					st, err := streamState(ctx, js, r.b.Queue.WithDefaults().Stream.Name)
					if err != nil {
						t.Fatal(err)
					}
					return st.LastSeq
				}
			}
			seqBefore := lastSeq()
			status, retry, err := r.d.pushHarbor(ctx, img, digest)
			if err != nil || status != http.StatusAccepted || len(retry.Jobs) != 1 {
				t.Fatalf("retry: %d %+v %v, want 202 with one job", status, retry, err)
			}
			storedAgain := lastSeq() != seqBefore
			// A marker pushed after the retry, in the same namespace: once
			// it is at HSS, a stored retry would be too.
			marker := image{NS: img.NS, Name: "marker", Tag: "1.0"}
			if status, _, err := r.d.pushGeneric(ctx, []image{marker}); err != nil || status != http.StatusAccepted {
				t.Fatalf("marker: %d %v", status, err)
			}
			natstest.Eventually(t, drainBound, "the marker at HSS", func() bool { return deliveries(r.hss)[marker.key()] > 0 })
			scans := deliveries(r.hss)[img.key()]
			// The retry, when stored again, was settled before the marker
			// was handed on, so this count is final.
			already := r.b.metrics()["scanbridge_queue_already_accepted_total"]
			duplicate := retry.Jobs[0].Duplicate
			r.settle("same delivery retried: "+tc.name, first, nil, fmt.Sprintf(
				"%d deliveries of one push (the second image is a marker), %d HSS items for it; retry answered "+
					"duplicate=%v, acked as already accepted %v", tc.copies+1, scans, duplicate, already))
			if scans != 1 {
				t.Errorf("one push delivered %d times became %d HSS items (retry answered duplicate=%v, stored again=%v, "+
					"acked as already accepted %v), want 1", tc.copies+1, scans, duplicate, storedAgain, already)
			}
			if tc.streamForgets == "" {
				if !duplicate || storedAgain {
					t.Errorf("the running stream stored the retry again (answered duplicate=%v, stored again=%v); "+
						"its own duplicate window should have dropped it", duplicate, storedAgain)
				}
				return
			}
			if (!duplicate || storedAgain) && already < 1 {
				t.Errorf("the retry was stored again (%s), but the bridge counted no job as already accepted "+
					"(scanbridge_queue_already_accepted_total %v)", tc.streamForgets, already)
			}
		})
	}
}

// countStored counts the answers that stored their job (not duplicates).
func countStored(answers []answer) int {
	n := 0
	for _, a := range answers {
		if len(a.Jobs) == 1 && !a.Jobs[0].Duplicate {
			n++
		}
	}
	return n
}
