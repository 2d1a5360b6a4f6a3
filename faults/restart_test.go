//go:build linux

package faults

import (
	"net/http"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// TestRestartWithAHigherRateUsesIt is the minimal case of what the "wait
// for a permit" crash showed: the bridge ran at 30 calls a minute, is
// restarted at 600 (the backlog must drain at the allowed rate), and after
// the restart its limiter must run at the new ceiling — no 429 was ever
// seen, so nothing justifies a lower rate. The shared limiter (the
// default, hss.shared_limit) keeps its state in a JetStream KV key across
// restarts.
func TestRestartWithAHigherRateUsesIt(t *testing.T) {
	needBridge(t, false)
	const before, after = 30, 600
	r := newRig(t, false)
	r.b.set("hss.calls_per_minute", before)
	r.b.set("hss.burst", 1)
	r.b.start()
	r.d.send(t, 4, 1, 1, http.StatusAccepted)
	natstest.Eventually(t, drainBound, "the first jobs at HSS", func() bool { return r.outcome(nil).lost == 0 })
	if got := r.b.metrics()[rateGauge]; got != before {
		t.Fatalf("rate %.0f/min before the restart, want %d", got, before)
	}
	r.b.term(30 * time.Second)

	r.b.set("hss.calls_per_minute", after)
	r.b.set("hss.burst", 20)
	r.b.start()
	// One call after the restart, so the limiter has read its stored state.
	r.d.send(t, 1, 1, 1, http.StatusAccepted)
	natstest.Eventually(t, drainBound, "the job at HSS after the restart", func() bool { return r.outcome(nil).lost == 0 })
	got := r.b.metrics()[rateGauge]
	if got == after {
		return
	}
	t.Fatalf("after a restart with hss.calls_per_minute raised from %d to %d the shared limiter runs at %.0f/min "+
		"with no 429 ever seen: a rate stored under the old ceiling was taken for a 429 cut", before, after, got)
}
