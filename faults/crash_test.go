//go:build linux

package faults

import (
	"fmt"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// TestCrashLosesNoAcceptedJob kills the bridge with SIGKILL at the three
// points where a job can be between states — arriving, waiting for a rate
// permit, inside an HSS call — once with an external NATS and once with
// the embedded one (the one-command setup, restarted on the same data dir),
// and checks that every job answered 202 reaches HSS after the restart.
// Duplicates (a call HSS took whose ack died with the process) are allowed
// and counted.
func TestCrashLosesNoAcceptedJob(t *testing.T) {
	needBridge(t, false)
	points := []struct {
		name string
		// arm sets the bridge up before its first start; crash drives it
		// to the kill point, kills it and undoes any HSS fault; restart
		// sets it up for the second run.
		arm     func(r *rig)
		crash   func(t *testing.T, r *rig) string
		restart func(r *rig)
	}{
		{
			name: "SIGKILL while webhooks are in flight",
			crash: func(t *testing.T, r *rig) string {
				stop := r.d.flood(8, 1)
				natstest.Eventually(t, 30*time.Second, "150 accepted webhooks", func() bool { return len(r.l.acceptedKeys()) >= 150 })
				r.b.kill()
				stop()
				return fmt.Sprintf("%d webhooks without an answer (cut off by the kill, or refused after it)", r.l.unanswered())
			},
		},
		{
			name: "SIGKILL while batches wait for a rate permit",
			arm: func(r *rig) {
				// One call every 2s, 5 images each: most groups wait.
				r.b.set("hss.calls_per_minute", 30)
				r.b.set("hss.burst", 1)
				r.b.Queue.Consumer.MaxItems, r.b.Queue.Consumer.MaxItemsPerCall = 5, 5
				r.b.Queue.Consumer.MaxHeld = 100
			},
			crash: func(t *testing.T, r *rig) string {
				r.d.send(t, 80, 4, 4, 202)
				var held float64
				natstest.Eventually(t, 30*time.Second, "a first call and 20 jobs held for permits", func() bool {
					held = r.b.metrics()["scanbridge_queue_consumer_held"]
					return len(r.hss.Requests()) >= 1 && held >= 20
				})
				r.b.kill()
				return fmt.Sprintf("killed with %.0f jobs held, %d calls made", held, len(r.hss.Requests()))
			},
			restart: func(r *rig) {
				r.b.set("hss.calls_per_minute", 600)
				r.b.set("hss.burst", 20)
			},
		},
		{
			name: "SIGKILL while HSS calls are in flight",
			arm: func(r *rig) {
				// Calls of 20 images: the 60 jobs are three calls' worth,
				// two in flight at once (hss.max_concurrent). With quota
				// packing one permit would otherwise carry all 60.
				r.b.Queue.Consumer.MaxItemsPerCall = 20
			},
			crash: func(t *testing.T, r *rig) string {
				hold := make(chan struct{})
				remove := r.hss.Inject(hsstest.Fault{Hold: hold})
				r.d.send(t, 60, 3, 4, 202)
				natstest.Eventually(t, 30*time.Second, "two HSS calls in flight", func() bool { return r.hss.InFlight() >= 2 })
				inFlight := r.hss.InFlight()
				r.b.kill()
				// The held calls see their caller gone and are refused: HSS
				// did not take them, so only a resend after the restart gets
				// them scanned. Release the hold only then; released first,
				// HSS would take them after the caller died (a duplicate, not
				// the case tested here).
				natstest.Eventually(t, 30*time.Second, "the fake to see the killed callers go", func() bool { return r.hss.InFlight() == 0 })
				close(hold)
				remove()
				return fmt.Sprintf("killed with %d calls in flight", inFlight)
			},
		},
	}
	for _, mode := range []struct {
		name     string
		embedded bool
	}{{"external NATS", false}, {"embedded NATS", true}} {
		for _, p := range points {
			t.Run(mode.name+"/"+p.name, func(t *testing.T) {
				r := newRig(t, mode.embedded)
				if p.arm != nil {
					p.arm(r)
				}
				r.b.start()
				note := p.crash(t, r)
				if p.restart != nil {
					p.restart(r)
				}
				r.b.start()
				r.settle(p.name+" ("+mode.name+")", time.Now(), nil, note)
			})
		}
	}
}
