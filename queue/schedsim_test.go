package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"text/tabwriter"
	"time"

	"github.com/scan-bridge/scan-bridge/ratelimit"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// The scheduling simulator: the real batcher (this package) and the real
// rate limiter (ratelimit.Adaptive, the same GCRA, margin and AIMD code as
// the shared one, state.go there) on synctest's virtual clock, fed by
// arrival traces through a stream that honours max_held and redelivers
// nakked messages, in front of a fake HSS that answers 429 whenever a
// strict sliding 60-second window already holds five accepted calls.
// docs/scheduling.md has the tables and how to read them.
//
// go test ./queue/ -run TestSchedSim -v                      # the short traces, asserted
// SCANBRIDGE_SCHEDSIM=1 go test ./queue/ -run TestSchedSim -v  # and the long ones

// simPush is one image pushed: when, and which namespace and image.
type simPush struct {
	at      time.Duration
	ns, img int
	lane    scanjob.Lane // empty: a push
}

// simTrace is an arrival trace.
type simTrace struct {
	name   string
	pushes []simPush // by time
	// burst is when the burst of the trace begins and burstLen how long
	// pushes keep coming in it: the first call at or after burst is "the
	// burst's first call". Negative burst: no burst.
	burst, burstLen time.Duration
	// fits says whatever waits at a permit fits in one call, so with
	// quota packing every image must reach HSS within linger + one permit
	// interval.
	fits bool
	// firstShare is the least share of the images waiting that the
	// burst's first call must carry with quota packing (0: not checked).
	firstShare float64
}

// zipf draws namespace or image indices 0..n-1 with Zipf's law (exponent
// 1.1): a few big namespaces and a long tail, as registries have.
func zipf(rng *rand.Rand, n int) *rand.Zipf {
	return rand.NewZipf(rng, 1.1, 1, uint64(n-1))
}

// ciBurst is n pushes over namespaces Zipf namespaces, spread uniformly at
// random over d: a CI system releasing many pipelines at once.
func ciBurst(seed uint64, n, namespaces int, d time.Duration) []simPush {
	rng := rand.New(rand.NewPCG(seed, 1))
	nsZ, imgZ := zipf(rng, namespaces), zipf(rng, 20)
	out := make([]simPush, n)
	for i := range out {
		out[i] = simPush{at: time.Duration(rng.Int64N(int64(d))), ns: int(nsZ.Uint64()), img: int(imgZ.Uint64())}
	}
	slices.SortFunc(out, func(a, b simPush) int { return int(a.at - b.at) })
	return out
}

// steady is a Poisson stream of perMinute pushes a minute over namespaces
// Zipf namespaces, for d.
func steady(seed uint64, perMinute float64, namespaces int, d time.Duration) []simPush {
	rng := rand.New(rand.NewPCG(seed, 2))
	nsZ, imgZ := zipf(rng, namespaces), zipf(rng, 20)
	var out []simPush
	for at := time.Duration(0); ; {
		at += time.Duration(rng.ExpFloat64() * float64(time.Minute) / perMinute)
		if at >= d {
			return out
		}
		out = append(out, simPush{at: at, ns: int(nsZ.Uint64()), img: int(imgZ.Uint64())})
	}
}

// day is 100,000 pushes in 24 hours over 5,000 namespaces: 70,000 from
// people and CI, five times as dense from 08:00 to 20:00 as at night, and
// a nightly rescan at 02:00 that rebuilds 30,000 images of every namespace
// alike within five minutes.
func day(seed uint64) []simPush {
	const namespaces = 5000
	rng := rand.New(rand.NewPCG(seed, 3))
	nsZ, imgZ := zipf(rng, namespaces), zipf(rng, 20)
	var out []simPush
	for range 70000 {
		var hour int
		for {
			hour = rng.IntN(24)
			if hour >= 8 && hour < 20 || rng.Float64() < 0.2 {
				break
			}
		}
		at := time.Duration(hour)*time.Hour + time.Duration(rng.Int64N(int64(time.Hour)))
		out = append(out, simPush{at: at, ns: int(nsZ.Uint64()), img: int(imgZ.Uint64())})
	}
	for i := range 30000 {
		at := 2*time.Hour + time.Duration(rng.Int64N(int64(5*time.Minute)))
		out = append(out, simPush{at: at, ns: i % namespaces, img: 100 + i/namespaces})
	}
	slices.SortFunc(out, func(a, b simPush) int { return int(a.at - b.at) })
	return out
}

// simResult is what one run of a trace under one policy measured.
type simResult struct {
	calls, refused  int
	perCall         []int     // images of each accepted call
	share           []float64 // of each call: its images / images waiting when it was packed
	firstBurstShare float64   // share of the burst's first call
	p50, p99, max   time.Duration
	jain            float64
	// Mean wait of the busiest namespace, of namespaces that pushed once
	// (negative: none did).
	topWait, oneWait time.Duration
	// Of the pushes made during the burst: p99 push → HSS, and when the
	// last of them reached HSS, from the burst's start.
	burstP99, burstDrained time.Duration
	drained                time.Duration // the last image reached HSS, from the first push
	maxHeld                int64
	waits                  []time.Duration // of each push of the trace, in its order
}

func TestSchedSim(t *testing.T) {
	long := os.Getenv("SCANBRIDGE_SCHEDSIM") == "1"
	traces := []simTrace{
		{name: "CI burst: 3,000 pushes, 300 Zipf namespaces, 10 s", pushes: ciBurst(1, 3000, 300, 10*time.Second),
			burstLen: 10 * time.Second, firstShare: 0.95},
		{name: "steady: 1,000 pushes/min, 5,000 Zipf namespaces, 5 min", pushes: steady(2, 1000, 5000, 5*time.Minute),
			burst: -1, fits: true},
	}
	if long {
		traces = append(traces,
			simTrace{name: "steady: 1,000 pushes/min, 5,000 Zipf namespaces, 1 h", pushes: steady(3, 1000, 5000, time.Hour),
				burst: -1, fits: true},
			simTrace{name: "steady: 4,000 pushes/min, 5,000 Zipf namespaces, 30 min", pushes: steady(4, 4000, 5000, 30*time.Minute),
				burst: -1, fits: true},
			simTrace{name: "day: 100,000 pushes, 5,000 namespaces, rescan of 30,000 at 02:00", pushes: day(5),
				burst: 2 * time.Hour, burstLen: 5 * time.Minute})
	} else {
		t.Log("SCANBRIDGE_SCHEDSIM=1 adds the hour, the saturated stream and the day")
	}
	cfg := Config{}.WithDefaults().Consumer
	lim := ratelimit.Config{CallsPerMinute: ratelimit.DefaultCallsPerMinute}.WithDefaults()
	// The limiter's interval between calls: a minute shared among them,
	// stretched by the margin (ratelimit/state.go).
	interval := time.Duration(float64(time.Minute) / lim.CallsPerMinute * (1 + lim.Margin))
	policies := []string{PackReady, PackQuota}

	t.Run("control: without the margin the strict window refuses", func(t *testing.T) {
		// The 0 429s below mean something only if the fake HSS catches
		// calls at the quota's edge: a limiter without a margin (60 s / 5
		// exactly) meets 429s in the same stream.
		r := runSim(t, cfg, ratelimit.Config{Margin: 1e-9}, traces[1])
		if r.refused == 0 {
			t.Error("no 429 without the margin: the fake HSS's window is not strict")
		}
		t.Logf("%d of %d calls answered 429", r.refused, r.calls)
	})
	for _, tr := range traces {
		t.Run(tr.name, func(t *testing.T) {
			res := map[string]simResult{}
			for _, p := range policies {
				c := cfg
				c.Packing = p
				res[p] = runSim(t, c, lim, tr)
			}
			t.Log("\n" + simTable(tr, policies, res))

			q := res[PackQuota]
			for _, p := range policies {
				if r := res[p]; r.refused != 0 {
					t.Errorf("%s: %d calls answered 429 by the strict window, want none", p, r.refused)
				}
				if r := res[p]; r.maxHeld > int64(cfg.MaxHeld) {
					t.Errorf("%s: %d messages held, more than max_held %d", p, r.maxHeld, cfg.MaxHeld)
				}
			}
			if q.firstBurstShare < tr.firstShare {
				t.Errorf("quota: the burst's first call carried %.0f %% of the images waiting, want at least %.0f %%",
					100*q.firstBurstShare, 100*tr.firstShare)
			}
			if bound := cfg.Linger + interval; tr.fits && q.p99 > bound {
				t.Errorf("quota: p99 push → HSS %s, want at most linger + one permit interval, %s", q.p99, bound)
			}
		})
	}
}

// TestSchedSimCapacity is what one HSS user sustains with quota packing
// and the default settings: steady Zipf streams of rising rate, 10 minutes
// each, and the delay they see. Only with SCANBRIDGE_SCHEDSIM=1.
func TestSchedSimCapacity(t *testing.T) {
	if os.Getenv("SCANBRIDGE_SCHEDSIM") != "1" {
		t.Skip("SCANBRIDGE_SCHEDSIM=1 runs the capacity sweep")
	}
	cfg := Config{}.WithDefaults().Consumer
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "pushes/min\timages/hour\tHSS calls\timages per call, max\tp50\tp99\tmax\tbehind at the end\t")
	for _, rate := range []float64{1000, 2000, 3000, 4000, 4500, 4800, 5200} {
		tr := simTrace{name: fmt.Sprint(rate), pushes: steady(uint64(rate), rate, 5000, 10*time.Minute), burst: -1}
		r := runSim(t, cfg, ratelimit.Config{}, tr)
		last := tr.pushes[len(tr.pushes)-1].at
		fmt.Fprintf(w, "%.0f\t%.0f\t%d\t%d\t%.1f s\t%.1f s\t%.1f s\t%.1f s\t\n", rate, rate*60, r.calls, slices.Max(r.perCall),
			r.p50.Seconds(), r.p99.Seconds(), r.max.Seconds(), (r.drained - last).Seconds())
		if r.refused != 0 {
			t.Errorf("%.0f/min: %d calls answered 429", rate, r.refused)
		}
	}
	w.Flush()
	t.Log("\n" + sb.String())
}

// runSim runs one trace through a batcher with cfg, paced by a limiter
// with lc, and reports what HSS saw.
func runSim(t *testing.T, cfg ConsumerConfig, lc ratelimit.Config, tr simTrace) simResult {
	t.Helper()
	var out simResult
	synctest.Test(t, func(t *testing.T) {
		lim, err := ratelimit.NewAdaptive(lc)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		hss := newSimHSS(lim, len(tr.pushes), start, tr.burst)
		// The job stream as the two durables see it: pushes, and the
		// background lanes (queue.go, laneSubject).
		st := &simStream{notify: make(chan struct{}, 1)}
		stBg := &simStream{notify: make(chan struct{}, 1)}
		b := newBatcher(cfg, hss, testTargets, &fakeDLQ{}, nil, nil, nil)

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ran := make(chan struct{})
		go func() { defer close(ran); b.run(ctx) }()
		var maxHeld atomic.Int64
		var fetching sync.WaitGroup
		fetching.Go(func() { st.fetch(ctx, b, &maxHeld, false) })
		fetching.Go(func() { stBg.fetch(ctx, b, &maxHeld, true) })

		pushed := make([]time.Time, len(tr.pushes))
		for i, p := range tr.pushes {
			time.Sleep(time.Until(start.Add(p.at)))
			pushed[i] = time.Now()
			hss.pushed(1)
			if p.lane.Background() {
				stBg.publish(newSimMsg(t, stBg, i, p))
			} else {
				st.publish(newSimMsg(t, st, i, p))
			}
		}
		var lost bool
		select {
		case <-hss.done:
		case <-time.After(time.Hour):
			// Virtual time: an hour after the last push, something is lost.
			lost = true
			cancel()
		}
		b.closeInput()
		<-ran
		cancel()
		fetching.Wait()
		out.maxHeld = maxHeld.Load()

		hss.mu.Lock()
		defer hss.mu.Unlock()
		if lost {
			t.Fatalf("%d of %d pushes reached HSS an hour after the last one", len(hss.accepted), len(tr.pushes))
		}
		out.calls, out.refused = hss.calls, hss.refused
		out.perCall, out.share, out.firstBurstShare = hss.perCall, hss.share, hss.firstBurstShare
		waits := make([]time.Duration, len(tr.pushes))
		var burstWaits []time.Duration
		byNS := map[int][]time.Duration{}
		for i, p := range tr.pushes {
			at, ok := hss.accepted[i]
			if !ok {
				t.Fatalf("push %d never reached HSS", i)
			}
			out.drained = max(out.drained, at.Sub(start))
			waits[i] = at.Sub(pushed[i])
			out.waits = append(out.waits, waits[i])
			byNS[p.ns] = append(byNS[p.ns], waits[i])
			if tr.burst >= 0 && p.at >= tr.burst && p.at < tr.burst+tr.burstLen {
				burstWaits = append(burstWaits, waits[i])
				out.burstDrained = max(out.burstDrained, at.Sub(start.Add(tr.burst)))
			}
		}
		slices.Sort(waits)
		out.p50, out.p99, out.max = quantile(waits, 0.5), quantile(waits, 0.99), waits[len(waits)-1]
		if len(burstWaits) > 0 {
			slices.Sort(burstWaits)
			out.burstP99 = quantile(burstWaits, 0.99)
		}
		out.jain = jainOfMeans(byNS)
		out.topWait, out.oneWait = waitsBySize(byNS)
	})
	return out
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(len(sorted)-1, int(math.Ceil(q*float64(len(sorted))))-1)]
}

// jainOfMeans is Jain's fairness index of the namespaces' mean waits:
// (Σx)² / (n·Σx²), 1 when every namespace waits as long on average, 1/n
// when one namespace does all the waiting.
func jainOfMeans(byNS map[int][]time.Duration) float64 {
	var sum, sq float64
	for _, ws := range byNS {
		var m float64
		for _, w := range ws {
			m += w.Seconds()
		}
		m /= float64(len(ws))
		sum += m
		sq += m * m
	}
	if sq == 0 {
		return 1
	}
	return sum * sum / (float64(len(byNS)) * sq)
}

// waitsBySize is the mean wait of the namespace with the most pushes, and
// of all pushes of namespaces that pushed once.
func waitsBySize(byNS map[int][]time.Duration) (top, one time.Duration) {
	var busiest []time.Duration
	var ones []time.Duration
	for _, ws := range byNS {
		if len(ws) > len(busiest) {
			busiest = ws
		}
		if len(ws) == 1 {
			ones = append(ones, ws[0])
		}
	}
	if len(ones) == 0 {
		return mean(busiest), -1
	}
	return mean(busiest), mean(ones)
}

func mean(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s / time.Duration(len(ds))
}

func simTable(tr simTrace, policies []string, res map[string]simResult) string {
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "%s\t", tr.name)
	for _, p := range policies {
		fmt.Fprintf(w, "%s\t", p)
	}
	fmt.Fprintln(w)
	row := func(name string, f func(r simResult) string) {
		fmt.Fprintf(w, "%s\t", name)
		for _, p := range policies {
			fmt.Fprintf(w, "%s\t", f(res[p]))
		}
		fmt.Fprintln(w)
	}
	sec := func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
	row("HSS calls", func(r simResult) string { return fmt.Sprint(r.calls) })
	row("images per call, mean / max", func(r simResult) string {
		s := 0
		for _, n := range r.perCall {
			s += n
		}
		return fmt.Sprintf("%.0f / %d", float64(s)/float64(len(r.perCall)), slices.Max(r.perCall))
	})
	if tr.burst >= 0 {
		row("burst's first call: share of waiting", func(r simResult) string { return fmt.Sprintf("%.0f %%", 100*r.firstBurstShare) })
	}
	row("share of waiting per call, mean", func(r simResult) string {
		s := 0.0
		for _, x := range r.share {
			s += x
		}
		return fmt.Sprintf("%.0f %%", 100*s/float64(len(r.share)))
	})
	row("push → HSS p50", func(r simResult) string { return sec(r.p50) })
	row("push → HSS p99", func(r simResult) string { return sec(r.p99) })
	row("push → HSS max", func(r simResult) string { return sec(r.max) })
	row("Jain's index of namespace mean waits", func(r simResult) string { return fmt.Sprintf("%.2f", r.jain) })
	row("mean wait, busiest namespace", func(r simResult) string { return sec(r.topWait) })
	if res[policies[0]].oneWait >= 0 {
		row("mean wait, namespaces with one push", func(r simResult) string { return sec(r.oneWait) })
	}
	if tr.burst >= 0 {
		row("burst: push → HSS p99", func(r simResult) string { return sec(r.burstP99) })
		row("burst: last image at HSS, from its start", func(r simResult) string { return sec(r.burstDrained) })
	}
	row("429s from the strict window", func(r simResult) string { return fmt.Sprint(r.refused) })
	w.Flush()
	return sb.String()
}

// simStream is the job stream and the fetch loop of Consumer.fetch: it
// hands pending messages to the batcher while it has room (max_held), and
// takes back nakked ones, at once or after their delay.
type simStream struct {
	mu      sync.Mutex
	pending []*simMsg
	notify  chan struct{}
}

func (s *simStream) publish(m *simMsg) {
	s.mu.Lock()
	s.pending = append(s.pending, m)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// fetch delivers as Consumer.fetch does: never more than the batcher's
// free room, each pull admitted as one chunk.
func (s *simStream) fetch(ctx context.Context, b *batcher, maxHeld *atomic.Int64, background bool) {
	for {
		free := b.free(background)
		if free <= 0 {
			select {
			case <-b.roomFor(background):
				continue
			case <-ctx.Done():
				return
			}
		}
		s.mu.Lock()
		n := min(free, len(s.pending))
		pull := make([]message, n)
		for i, m := range s.pending[:n] {
			pull[i] = m
		}
		s.pending = s.pending[n:]
		s.mu.Unlock()
		if n == 0 {
			select {
			case <-s.notify:
				continue
			case <-ctx.Done():
				return
			}
		}
		b.admit(ctx, pull)
		for old := maxHeld.Load(); old < b.held.Load() && !maxHeld.CompareAndSwap(old, b.held.Load()); old = maxHeld.Load() {
		}
	}
}

// simMsg is one delivery of a pushed image; a nak publishes the next one.
type simMsg struct {
	st   *simStream
	data []byte
	d    delivery
	i    int // index of the push in its trace

	mu      sync.Mutex
	settled bool
}

func newSimMsg(t *testing.T, st *simStream, i int, p simPush) *simMsg {
	job := scanjob.Job{Receiver: "ci", Registry: "generic", Target: targetA,
		Namespace: fmt.Sprintf("ns%04d", p.ns), Image: fmt.Sprintf("img%d", p.img), Tag: fmt.Sprintf("b%06d", i), Lane: p.lane}
	data, err := json.Marshal(job)
	if err != nil {
		t.Fatalf("encode job: %v", err)
	}
	return &simMsg{st: st, data: data, i: i, d: delivery{MsgID: job.ID(), StreamSeq: uint64(i + 1), NumDelivered: 1,
		Background: p.lane.Background()}}
}

func (m *simMsg) Data() []byte       { return m.data }
func (m *simMsg) Delivery() delivery { return m.d }
func (m *simMsg) InProgress() error  { return nil }
func (m *simMsg) Ack() error         { return m.settle() }
func (m *simMsg) TermWithReason(string) error {
	panic(fmt.Sprintf("push %d was termed: the simulator makes no poison", m.i))
}
func (m *simMsg) Nak() error { return m.NakWithDelay(0) }

func (m *simMsg) NakWithDelay(d time.Duration) error {
	if err := m.settle(); err != nil {
		return err
	}
	next := &simMsg{st: m.st, data: m.data, i: m.i, d: m.d}
	next.d.NumDelivered++
	time.AfterFunc(d, func() { m.st.publish(next) })
	return nil
}

func (m *simMsg) settle() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.settled {
		panic(fmt.Sprintf("push %d settled twice in one delivery", m.i))
	}
	m.settled = true
	return nil
}

// simHSS is the HSS side as scanner.HSS wires it (a call slot, then a
// permit; the limiter told of each 429 and success) in front of a fake HSS
// with a strict sliding window: a call is refused when the 60 s before it,
// both ends included, hold five accepted calls.
type simHSS struct {
	lim   ratelimit.Limiter
	slots chan struct{} // hss.max_concurrent
	rng   *rand.Rand    // network latency to HSS
	total int
	done  chan struct{} // closed when every push was accepted
	start time.Time
	burst time.Duration

	mu              sync.Mutex
	window          []time.Time // accepted calls
	waiting         int         // pushed, neither accepted nor in a call in flight
	calls, refused  int
	perCall         []int
	share           []float64
	firstBurstShare float64
	accepted        map[int]time.Time // push index → when HSS took it
}

// Network latency to HSS and the time HSS takes to answer.
const (
	simLatency = 500 * time.Millisecond
	simAnswer  = 300 * time.Millisecond
)

func newSimHSS(lim ratelimit.Limiter, total int, start time.Time, burst time.Duration) *simHSS {
	return &simHSS{lim: lim, slots: make(chan struct{}, 2), rng: rand.New(rand.NewPCG(9, 9)), total: total,
		start: start, burst: burst, done: make(chan struct{}), firstBurstShare: math.NaN(), accepted: map[int]time.Time{}}
}

func (h *simHSS) pushed(n int) {
	h.mu.Lock()
	h.waiting += n
	h.mu.Unlock()
}

func (h *simHSS) Acquire(ctx context.Context) (func(), error) {
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := h.lim.Wait(ctx); err != nil {
		<-h.slots
		return nil, err
	}
	return func() { <-h.slots }, nil
}

func (h *simHSS) Scan(ctx context.Context, _ scanjob.Target, items []scanjob.Job) error {
	// The call was packed at this instant: what it carries against what
	// waited (pushed, not accepted, not in another call).
	h.mu.Lock()
	share := float64(len(items)) / float64(h.waiting)
	h.waiting -= len(items)
	if math.IsNaN(h.firstBurstShare) && h.burst >= 0 && time.Since(h.start) >= h.burst {
		h.firstBurstShare = share
	}
	latency := time.Duration(h.rng.Int64N(int64(simLatency)))
	h.mu.Unlock()

	time.Sleep(latency)
	now := time.Now()
	h.mu.Lock()
	h.calls++
	n := 0
	for i := len(h.window) - 1; i >= 0 && !h.window[i].Before(now.Add(-time.Minute)); i-- {
		n++
	}
	ok := n < ratelimit.DefaultCallsPerMinute
	if ok {
		h.window = append(h.window, now)
		h.perCall = append(h.perCall, len(items))
		h.share = append(h.share, share)
		for _, j := range items {
			// The tag is the push's index (newSimMsg); a tag that is not
			// one leaves its push unaccepted, which runSim reports.
			if i, err := strconv.Atoi(strings.TrimPrefix(j.Tag, "b")); err == nil {
				h.accepted[i] = now
			}
		}
		if len(h.accepted) == h.total {
			close(h.done)
		}
	} else {
		h.refused++
		h.waiting += len(items)
	}
	h.mu.Unlock()

	time.Sleep(simAnswer)
	if err := h.lim.Feedback(ctx, !ok); err != nil {
		return err
	}
	if !ok {
		return &verdictError{Verdict{Class: Retry, Status: 429, Code: "APIGW.0308"}}
	}
	return nil
}

func (h *simHSS) Judge(err error) Verdict {
	if ve, ok := err.(*verdictError); ok {
		return ve.v
	}
	return Verdict{Class: Retry}
}

// lanesTrace is a steady push stream with background work behind it: at
// 1 minute a sweep enqueues a backlog of 10,000 images of one namespace,
// at 2 minutes another source's sweep finds one image of another
// namespace, and at 5 minutes a nightly redrive republishes 2,000 dead
// letters of 200 namespaces at its default pace (100 a second). With
// lanes false every job is a push: the bridge before lanes.
//
// With spread, the sweep walks the namespaces the pushes go to (20
// images of each of 500 of them) instead of one of its own. Sweep images
// are numbered from 100,000, the single one is 200,000, the redrive's from
// 300,000; pushed images are below 20.
func lanesTrace(background, lanes, spread bool) []simPush {
	out := steady(6, 200, 5000, 20*time.Minute)
	if !background {
		return out
	}
	lane := func(l scanjob.Lane) scanjob.Lane {
		if lanes {
			return l
		}
		return ""
	}
	for i := range 10000 {
		ns := 9999
		if spread {
			ns = i % 500
		}
		out = append(out, simPush{at: time.Minute + time.Duration(i)*time.Millisecond, ns: ns, img: 100000 + i, lane: lane(scanjob.LaneSweep)})
	}
	out = append(out, simPush{at: 2 * time.Minute, ns: 9998, img: 200000, lane: lane(scanjob.LaneSweep)})
	for i := range 2000 {
		out = append(out, simPush{at: 5*time.Minute + time.Duration(i)*10*time.Millisecond, ns: i % 200, img: 300000 + i, lane: lane(scanjob.LaneRedrive)})
	}
	slices.SortStableFunc(out, func(a, b simPush) int { return int(a.at - b.at) })
	return out
}

// TestSchedSimLanes: fresh pushes keep their latency while a 10,000-image
// sweep and a redrive drain behind them, and the background still drains
// in the room the pushes leave.
func TestSchedSimLanes(t *testing.T) {
	cfg := Config{}.WithDefaults().Consumer
	lim := ratelimit.Config{CallsPerMinute: ratelimit.DefaultCallsPerMinute}.WithDefaults()
	interval := time.Duration(float64(time.Minute) / lim.CallsPerMinute * (1 + lim.Margin))
	// "no lanes" is the bridge before lanes: every job a push, in one
	// stream order. A batcher orders only what it holds, so there a push
	// stored behind the backlog waits in the stream until max_held lets
	// it in; with lanes the background jobs have their own durable and
	// room (laneSubject). "max_held 12,000" holds the whole backlog, so
	// the batcher's packing alone is compared.
	const bigHeld = 12000
	runs := []struct {
		name                      string
		background, lanes, spread bool
		maxHeld                   int
	}{
		{"pushes alone", false, true, false, cfg.MaxHeld},
		{"lanes", true, true, false, cfg.MaxHeld},
		{"no lanes", true, false, false, cfg.MaxHeld},
		{"no lanes, max_held 12,000", true, false, false, bigHeld},
		{"sweep of push namespaces, lanes", true, true, true, cfg.MaxHeld},
		{"sweep of push namespaces, no lanes, max_held 12,000", true, false, true, bigHeld},
	}
	type figures struct {
		p50, p99, max                        time.Duration
		sweepDrained, redriveDrained, single time.Duration
		calls                                int
	}
	got := make([]figures, len(runs))
	for i, run := range runs {
		tr := simTrace{name: run.name, pushes: lanesTrace(run.background, run.lanes, run.spread), burst: -1}
		c := cfg
		c.MaxHeld = run.maxHeld
		r := runSim(t, c, lim, tr)
		var push []time.Duration
		var f figures
		f.calls = r.calls
		for j, p := range tr.pushes {
			done := p.at + r.waits[j]
			switch {
			case p.img >= 300000:
				f.redriveDrained = max(f.redriveDrained, done-5*time.Minute)
			case p.img == 200000:
				f.single = r.waits[j]
			case p.img >= 100000:
				f.sweepDrained = max(f.sweepDrained, done-time.Minute)
			default:
				push = append(push, r.waits[j])
			}
		}
		slices.Sort(push)
		f.p50, f.p99, f.max = quantile(push, 0.5), quantile(push, 0.99), push[len(push)-1]
		got[i] = f
		if r.refused != 0 {
			t.Errorf("%s: %d calls answered 429", run.name, r.refused)
		}
	}
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(w, "\t")
	for _, run := range runs {
		fmt.Fprintf(w, "%s\t", run.name)
	}
	fmt.Fprintln(w)
	row := func(name string, f func(figures) string) {
		fmt.Fprintf(w, "%s\t", name)
		for _, g := range got {
			fmt.Fprintf(w, "%s\t", f(g))
		}
		fmt.Fprintln(w)
	}
	sec := func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
	row("HSS calls", func(f figures) string { return fmt.Sprint(f.calls) })
	row("push → HSS p50", func(f figures) string { return sec(f.p50) })
	row("push → HSS p99", func(f figures) string { return sec(f.p99) })
	row("push → HSS max", func(f figures) string { return sec(f.max) })
	row("sweep of 10,000: last at HSS, from its start", func(f figures) string { return sec(f.sweepDrained) })
	row("sweep's single image of another namespace: wait", func(f figures) string { return sec(f.single) })
	row("redrive of 2,000: last at HSS, from its start", func(f figures) string { return sec(f.redriveDrained) })
	w.Flush()
	t.Log("\n" + sb.String())

	bound := cfg.Linger + interval
	for i, run := range runs {
		if run.lanes && got[i].max > bound {
			t.Errorf("%s: push max %s, want at most linger + one permit interval, %s", run.name, got[i].max, bound)
		}
	}
}
