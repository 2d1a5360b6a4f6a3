//go:build linux

package faults

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/bridgeproc"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// The long scenarios run only with SCANBRIDGE_FAULTS_LONG=1:
//
//	SCANBRIDGE_FAULTS_LONG=1 go test ./faults/ -run Long -timeout 30m -v
//
// They take minutes each; their figures go in the closing note.

// TestLongBacklog100kWhileHSSIsDown queues 100,000 jobs while HSS answers
// 503, keeps them queued while the bridge retries, then lets HSS back and
// measures the drain. The bridge's memory must stay bounded: it holds at
// most consumer.max_held messages, the rest waits in the stream. RSS is
// read from /proc/<pid>/status (VmHWM, the kernel's peak, and VmRSS) while
// the backlog sits and after it drained. With the external NATS the RSS is
// the bridge's own; with the embedded one it includes the NATS server
// holding the backlog, as in the one-command setup.
func TestLongBacklog100kWhileHSSIsDown(t *testing.T) {
	needBridge(t, true)
	const jobs, perRequest = 100_000, 100
	for _, mode := range []struct {
		name     string
		embedded bool
		// rssBound is far above an honest figure: only a backlog pulled
		// into memory (or a leak) reaches it.
		rssBound int64
	}{
		{"external NATS", false, 256 << 20},
		{"embedded NATS", true, 1 << 30},
	} {
		t.Run(mode.name, func(t *testing.T) {
			r := newRig(t, mode.embedded)
			r.bound = 15 * time.Minute
			r.b.set("http.publish_timeout", "10s")
			r.b.Queue.Consumer.MaxItems, r.b.Queue.Consumer.MaxItemsPerCall = 100, 1000
			r.b.Queue.Consumer.Linger = time.Second
			r.b.Queue.Consumer.BackoffBase, r.b.Queue.Consumer.BackoffCap = time.Second, 5*time.Second
			r.b.start()
			down := r.hss.Inject(hsstest.Fault{Status: http.StatusServiceUnavailable})

			began := time.Now()
			r.d.sendImages(t, r.d.images(jobs), perRequest, 8, http.StatusAccepted)
			intake := time.Since(began)
			// Let the backlog sit through several retry rounds (counted).
			seen := len(r.hss.Refusals())
			natstest.Eventually(t, 5*time.Minute, "10 refused retries with the backlog queued", func() bool {
				return len(r.hss.Refusals())-seen >= 10
			})
			queuedHWM, queuedRSS := r.b.memory()

			refused := len(r.hss.Refusals())
			down()
			back := time.Now()
			o, drain := r.drain(back, nil)
			_, drainedRSS := r.b.memory()
			r.report(fmt.Sprintf("100k backlog while HSS is down (%s)", mode.name), o, drain, fmt.Sprintf(
				"intake %s (%.0f jobs/s); while queued VmHWM %s VmRSS %s; drained in %d calls, VmRSS after %s; %d calls refused while down",
				intake.Round(time.Second), float64(jobs)/intake.Seconds(), bridgeproc.MiB(queuedHWM), bridgeproc.MiB(queuedRSS),
				len(r.hss.Requests()), bridgeproc.MiB(drainedRSS), refused))
			if o.accepted != jobs {
				t.Errorf("%d jobs accepted, want %d", o.accepted, jobs)
			}
			if peak := r.b.peakRSS(); peak > mode.rssBound {
				t.Errorf("peak RSS %s with a %d-job backlog, bound %s", bridgeproc.MiB(peak), jobs, bridgeproc.MiB(mode.rssBound))
			}
		})
	}
}

// TestLongOutageWithRetriedDelivery keeps HSS down (503) for three minutes
// while webhooks keep arriving, with the backoff capped at 20s: the
// retries must keep coming (a refusal at least every cap plus a linger),
// nothing is dead-lettered or lost, and the backlog drains once HSS is
// back. A registry delivery is retried two minutes after the first (within
// the duplicate window, the bridge and NATS running): one HSS item.
func TestLongOutageWithRetriedDelivery(t *testing.T) {
	needBridge(t, true)
	const outage, retryAfter = 3 * time.Minute, 2 * time.Minute
	r := newRig(t, false)
	r.bound = 5 * time.Minute
	r.b.Queue.Consumer.BackoffBase, r.b.Queue.Consumer.BackoffCap = time.Second, 20*time.Second
	r.b.start()
	ctx := context.Background()
	pushed := image{NS: "dup", Name: "app", Tag: "2.0"}
	digest := "sha256:" + fmt.Sprintf("%064x", 0xd1d1)
	// The fault's Match sees every call: it notes when the pushed job was
	// tried, so its own retry schedule can be read (and it matches all).
	var (
		triesMu sync.Mutex
		tries   []time.Time
	)
	carries := hsstest.ContainsImage(pushed.NS, pushed.Name, pushed.Tag)
	down := r.hss.Inject(hsstest.Fault{Status: http.StatusServiceUnavailable, Match: func(req hsstest.Request) bool {
		if carries(req) {
			triesMu.Lock()
			tries = append(tries, time.Now())
			triesMu.Unlock()
		}
		return true
	}})
	began := time.Now()

	if status, _, err := r.d.pushHarbor(ctx, pushed, digest); err != nil || status != http.StatusAccepted {
		t.Fatalf("first delivery: %d %v", status, err)
	}
	// A trickle of new pushes through the whole outage: one webhook of
	// two images every 2s.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_, _, _ = r.d.pushGeneric(ctx, r.d.images(2))
			}
		}
	})
	time.Sleep(retryAfter) // the scenario: a registry retrying two minutes later
	status, retry, err := r.d.pushHarbor(ctx, pushed, digest)
	if err != nil || status != http.StatusAccepted || len(retry.Jobs) != 1 || !retry.Jobs[0].Duplicate {
		t.Errorf("retry %s later: %d %+v %v, want 202 duplicate", retryAfter, status, retry, err)
	}
	time.Sleep(time.Until(began.Add(outage)))
	close(stop)
	wg.Wait()
	down()
	back := time.Now()

	refused := len(r.hss.Refusals())
	triesMu.Lock()
	var gaps []string
	var longest time.Duration
	for i := 1; i < len(tries); i++ {
		gap := tries[i].Sub(tries[i-1])
		longest = max(longest, gap)
		gaps = append(gaps, gap.Round(100*time.Millisecond).String())
	}
	attempts := len(tries)
	triesMu.Unlock()
	// The job's delays double from 1s and stop at the 20s cap (less up to
	// 20% jitter, plus linger and permit): an uncapped backoff would pass
	// 60s within three minutes, so 40s is a bound only a missing cap
	// breaks; growing past 10s shows it backs off at all.
	if longest > 40*time.Second || longest < 10*time.Second {
		t.Errorf("one job's retry gaps %v: want them growing past 10s and capped near 20s", gaps)
	}
	o, drain := r.drain(back, nil)
	r.report("HSS down (503) for 3 minutes under a trickle of pushes", o, drain, fmt.Sprintf(
		"%d calls refused; one job tried %d times, gaps %s (backoff 1s doubling, cap 20s, jitter 20%%); "+
			"its delivery retried 2 min later scanned %d time(s)",
		refused, attempts, strings.Join(gaps, " "), deliveries(r.hss)[pushed.key()]))
	if got := r.b.metrics()["scanbridge_queue_dead_letters_total"]; got != 0 {
		t.Errorf("%.0f jobs dead-lettered during an outage", got)
	}
	if n := deliveries(r.hss)[pushed.key()]; n != 1 {
		t.Errorf("one push delivered twice, %s apart, became %d HSS items, want 1", retryAfter, n)
	}
}

// TestLongThrottledByTheGateway runs a backlog against an HSS that
// throttles like the API gateway (a sliding minute of 30 calls per caller,
// 429 APIGW.0308 beyond) while the bridge is configured for 120 calls a
// minute: the bridge meets 429s for as long as it calls too fast. It must
// lose nothing and drain at the allowed rate. The split between accepted
// and throttled calls is the figure that shows whether the rate adapts
// down on 429 (an adaptive limiter makes few 429s after the first).
func TestLongThrottledByTheGateway(t *testing.T) {
	needBridge(t, true)
	hss := hsstest.NewServer(hsstest.Options{
		AccessKeys:     map[string]hsstest.Key{testAK: {SecretKey: testSK}},
		CallsPerMinute: 30,
	})
	t.Cleanup(hss.Close)
	r := &rig{t: t, hss: hss, l: newLedger(), bound: 10 * time.Minute, nats: natstest.Start(t)}
	r.b = newBridge(t, hss.URL, r.nats.URL())
	r.d = newDriver(r.b, r.l)
	r.b.set("hss.calls_per_minute", 120)
	r.b.set("hss.burst", 1)
	// 100 images a call, 6000 images: 60 calls, two minutes at 30 a minute.
	r.b.Queue.Consumer.MaxItems, r.b.Queue.Consumer.MaxItemsPerCall = 100, 100
	r.b.Queue.Consumer.BackoffBase, r.b.Queue.Consumer.BackoffCap = time.Second, 10*time.Second
	r.b.start()
	began := time.Now()
	r.d.sendImages(t, r.d.images(6000), 100, 4, http.StatusAccepted)
	o, drain := r.drain(began, nil)
	r.report("throttled by the gateway (30/min) with the bridge at 120/min", o, drain, fmt.Sprintf(
		"%d calls accepted, %d answered 429 APIGW.0308; drain counted from the first push",
		len(hss.Requests()), throttled(hss)))
}

// throttled counts the calls answered 429 APIGW.0308.
func throttled(hss *hsstest.Server) int {
	n := 0
	for _, ref := range hss.Refusals() {
		if ref.Status == http.StatusTooManyRequests && ref.ErrorCode == "APIGW.0308" {
			n++
		}
	}
	return n
}
