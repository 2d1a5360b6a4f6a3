//go:build linux

package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// TestSIGTERMUnderLoad stops the bridge with SIGTERM while webhooks keep
// coming and two HSS calls are held in flight. It must stop intake first,
// give the calls in flight the grace period, nak what it holds and has not
// sent so another replica gets it at once, and exit within the grace
// period. Two cases: the held calls are released while the grace runs (HSS
// takes them: they must be acked, so never sent again after the restart),
// and they are held past the grace (cut off: HSS took nothing, they are
// sent after the restart). Either way nothing accepted is lost.
func TestSIGTERMUnderLoad(t *testing.T) {
	needBridge(t, false)
	const grace = 6 * time.Second
	cases := []struct {
		name string
		// release says whether the held calls are let through once intake
		// has stopped (before the grace ends), or only after the exit.
		release bool
		// wantCode is the expected exit code: 0 when every call finished,
		// 1 when the grace ran out ("shutdown incomplete").
		wantCode int
	}{
		{name: "calls in flight released within the grace period", release: true, wantCode: 0},
		{name: "calls in flight held past the grace period", release: false, wantCode: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, false)
			r.b.set("http.shutdown_grace", grace.String())
			// An HSS call outlasts the grace unless released.
			r.b.set("hss.call_timeout", "30s")
			// Small calls at one a second after the two held ones, so groups
			// are still waiting for permits when the consumer stops; AckWait
			// 30s, so a message the bridge failed to nak could not come back
			// within the test's look (redeliverable) and the nak is what is
			// seen.
			r.b.set("hss.calls_per_minute", 60)
			r.b.set("hss.burst", 2)
			r.b.Queue.Consumer.MaxItems, r.b.Queue.Consumer.MaxItemsPerCall = 5, 5
			r.b.Queue.Consumer.MaxHeld = 200
			r.b.Queue.Consumer.Heartbeat = 10 * time.Second
			r.b.start()

			hold := make(chan struct{})
			removeHold := r.hss.Inject(hsstest.Fault{Hold: hold})
			stopLoad := r.d.flood(6, 1)
			var held float64
			natstest.Eventually(t, 30*time.Second, "two held calls and 30 more jobs held", func() bool {
				held = r.b.metrics()["scanbridge_queue_consumer_held"]
				return r.hss.InFlight() >= 2 && held >= 40
			})

			// The test goroutine waits for the exit; this one watches intake
			// stop, then the consumer stop (after intake, by design), and
			// then, in the first case, lets the held calls finish: the
			// release lands while the consumer waits for calls in flight.
			watched := make(chan error, 1)
			go func() {
				var err error
				if !r.b.poll(grace, r.b.intakeClosed) {
					err = fmt.Errorf("intake still open %s after SIGTERM", grace)
				}
				stopLoad()
				if err == nil && !r.b.poll(grace, func() bool { return r.b.logged("consumer stopping") }) {
					err = fmt.Errorf(`no "consumer stopping" in the log %s after SIGTERM`, grace)
				}
				if tc.release {
					close(hold)
				}
				watched <- err
			}()
			took, code := r.b.term(grace + 15*time.Second)
			if err := <-watched; err != nil {
				t.Error(err)
			}
			if !tc.release {
				close(hold)
			}
			removeHold()
			if code != tc.wantCode {
				t.Errorf("exit code %d after SIGTERM, want %d", code, tc.wantCode)
			}
			// The grace bounds the shutdown steps; what follows it (the
			// NATS drain, the process exit) takes milliseconds. 5s over is
			// a step running outside the grace, or a hang, not a slow host.
			if took > grace+5*time.Second {
				t.Errorf("exit %s after SIGTERM, grace period %s", took, grace)
			}
			// What HSS took before the exit was acked: it must not come
			// again. Count it now, before the restart.
			takenBefore := deliveries(r.hss)
			naked := redeliverable(t, r)

			r.b.set("hss.calls_per_minute", 600)
			r.b.set("hss.burst", 20)
			r.b.start()
			restarted := time.Now()
			r.settle("SIGTERM under load, "+tc.name, restarted, nil, fmt.Sprintf(
				"exit %s after SIGTERM (grace %s, code %d); %.0f held at SIGTERM, %d nakked for at once redelivery",
				took.Round(10*time.Millisecond), grace, code, held, naked))
			again := 0
			for k, n := range deliveries(r.hss) {
				if before := takenBefore[k]; before > 0 && n > before {
					again++
				}
			}
			if again > 0 {
				t.Errorf("%d images HSS took before the exit were sent again after the restart: their acks were lost", again)
			}
			if tc.release && len(takenBefore) == 0 {
				t.Error("HSS took nothing before the exit: the released calls did not finish within the grace period")
			}
			if naked == 0 {
				t.Error("no held message was redeliverable at once after the exit: the bridge did not nak what it held")
			}
		})
	}
}

// redeliverable is "another replica" on the bridge's durable consumer
// right after the bridge exited: it counts the messages redelivered to it
// at once (delivered before, nakked by the bridge), then naks them back so
// the restarted bridge gets them. With AckWait at 30s, a message the bridge
// did not nak would not be back within this one-second look.
func redeliverable(t *testing.T, r *rig) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := operatorJS(r.nats)
	qc := r.b.Queue.WithDefaults()
	cons, err := js.Consumer(ctx, qc.Stream.Name, qc.Consumer.Durable)
	if err != nil {
		t.Fatalf("durable consumer: %v", err)
	}
	batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatalf("fetch as another replica: %v", err)
	}
	// Nak only after the fetch ended: a message nakked during it would be
	// redelivered into the same fetch.
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	n := 0
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
			n++
		}
		if err := m.Nak(); err != nil {
			t.Fatalf("nak back: %v", err)
		}
	}
	return n
}
