//go:build linux

package faults

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// rateGauge is the rate the bridge's HSS limiter allows now (calls per
// minute): the ceiling, or less after a 429.
const rateGauge = "scanbridge_hss_rate_limit_per_minute"

// TestHSSOutageAndThrottlingLoseNothing puts HSS through an outage in
// phases — 503 Backend unavailable, calls that time out, then the gateway's
// 429 APIGW.0308 throttling — while webhooks keep arriving. Each phase
// lasts until HSS refused a given number of calls (counted, not timed), so
// the retries are seen to happen. Nothing may be dead-lettered (none of
// these is the images' fault) and, once HSS is back, the backlog must
// drain: every accepted job at HSS. The rate limit must come down on the
// 429s (and not on the 503s and timeouts, which say nothing about the
// quota) and climb back to the ceiling with successful calls after.
func TestHSSOutageAndThrottlingLoseNothing(t *testing.T) {
	needBridge(t, false)
	const ceiling = 600
	r := newRig(t, false)
	r.b.set("hss.calls_per_minute", ceiling)
	// Calls time out after 500ms; the timeout phase holds them for 5s.
	r.b.set("hss.call_timeout", "500ms")
	r.b.Queue.Consumer.BackoffCap = 2 * time.Second
	r.b.start()

	phases := []struct {
		name     string
		fault    hsstest.Fault
		refusals int
	}{
		{"503 Backend unavailable", hsstest.Fault{Status: http.StatusServiceUnavailable}, 6},
		{"calls timing out", hsstest.Fault{Delay: 5 * time.Second}, 3},
		{"429 APIGW.0308 throttling", hsstest.Fault{Status: http.StatusTooManyRequests}, 6},
	}
	var notes []string
	for i, p := range phases {
		seen := len(r.hss.Refusals())
		remove := r.hss.Inject(p.fault)
		// Keep jobs arriving through the phase.
		r.d.send(t, 30, 3, 3, http.StatusAccepted)
		natstest.Eventually(t, drainBound, fmt.Sprintf("phase %d (%s): %d refused calls", i, p.name, p.refusals), func() bool {
			return len(r.hss.Refusals())-seen >= p.refusals
		})
		remove()
		notes = append(notes, fmt.Sprintf("%d refused while %s", len(r.hss.Refusals())-seen, p.name))
		rate := r.b.metrics()[rateGauge]
		if p.fault.Status == http.StatusTooManyRequests {
			if !(rate > 0 && rate < ceiling) {
				t.Errorf("rate limit %.0f/min after %d answers 429 APIGW.0308, want it below the ceiling %d", rate, p.refusals, ceiling)
			}
		} else if rate != ceiling {
			t.Errorf("rate limit %.0f/min after %s, want the ceiling %d: only 429 says the quota is spent", rate, p.name, ceiling)
		}
	}
	back := time.Now()
	cut := r.b.metrics()[rateGauge]
	if throttled(r.hss) == 0 {
		t.Fatal("no call was answered 429 APIGW.0308: the throttling phase was not exercised")
	}
	o, drain := r.drain(back, nil)

	// Back up: successful calls (kept coming by a trickle of pushes, one
	// image per namespace every 100ms) must bring the rate back to the
	// ceiling.
	calls := len(r.hss.Requests())
	recovered := r.b.poll(drainBound, func() bool {
		if r.b.metrics()[rateGauge] >= ceiling {
			return true
		}
		_, _, _ = r.d.pushGeneric(context.Background(), r.d.images(r.d.spread))
		time.Sleep(100 * time.Millisecond)
		return false
	})
	if !recovered {
		t.Errorf("rate limit still %.0f/min after %d successful calls, want back at the ceiling %d",
			r.b.metrics()[rateGauge], len(r.hss.Requests())-calls, ceiling)
	}
	notes = append(notes, fmt.Sprintf("rate %d→%.0f/min on 429, back to %d after %d successful calls",
		ceiling, cut, ceiling, len(r.hss.Requests())-calls))
	if got := r.b.metrics()["scanbridge_queue_dead_letters_total"]; got != 0 {
		t.Errorf("%.0f jobs dead-lettered during an outage: retryable refusals must never dead-letter", got)
	}
	// The recovery's pushes must arrive too; the drain time is the
	// outage backlog's.
	if o.lost == 0 {
		o, _ = r.drain(time.Now(), nil)
	}
	r.report("HSS 503, timeouts, then 429 APIGW.0308", o, drain, strings.Join(notes, "; "))
}
