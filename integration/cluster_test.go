package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// The cluster test's load and limits. The load asks for about one HSS
// call a second in all (each pull of the shared consumer lasts up to a
// second and brings one batch; measured: 72 calls in 72 s with a limit of
// 60 per replica), so the limit must be below 60 a minute for the replicas
// to run at it, and high enough that a test of about a minute and a half
// gathers enough calls to judge it: 30 a minute. Run alone, each replica
// would make its own 30 and the deployment 60.
const (
	clusterLoadPerSecond = 20
	clusterCallsPerMin   = 30
	clusterBurst         = 1
	// warm-up before the failover, the least time both are down, and the
	// load after they are back.
	clusterWarmUp     = 15 * time.Second
	clusterMinOutage  = 10 * time.Second
	clusterAfterwards = 45 * time.Second
	// progressDuringOutage is how many jobs accepted after the failover
	// began must reach HSS before the stopped parts come back: proof that
	// the surviving replica and the two remaining servers keep going.
	progressDuringOutage = 20
)

// sharedLimiterEnv switches the bridges to the deployment-wide rate
// limiter (package ratelimit: its state in a JetStream KV bucket, replicated
// like the job stream, that every replica updates with compare-and-set).
// It is the default; the test names it so that a change of default cannot
// pass unnoticed. With "false" each replica paces itself alone, the
// deployment calls HSS up to replicas × the limit, and the rate assertion
// fails (measured: 57 calls in a 60 s window for a limit of 30).
var sharedLimiterEnv = map[string]string{"BRIDGE_HSS__SHARED_LIMIT": "true"}

// TestClusterFailover runs the deployment of deploy/compose.yaml under a
// steady webhook load: three NATS servers with JetStream clustered (the
// job stream with 3 replicas) and two bridge replicas sharing the durable
// consumer, calling the fake HSS. While the load runs it stops the server
// that leads the job stream and one bridge replica, keeps them down until
// the rest has visibly carried on, and starts both again. Then nothing
// accepted may be lost, the consumer must have delivered everything, and
// the two replicas together must have stayed within the HSS rate limit,
// which belongs to the deployment, not to each replica.
func TestClusterFailover(t *testing.T) {
	t.Parallel()
	image := bridgeImage(t)
	cluster := startNATSCluster(t, 3)
	js := cluster.jetStream(t)
	hss := startFakeHSS(t, 2)
	token := randomToken(t)

	var bridges []*hostBridge
	for i := range 2 {
		env := hss.env(i)
		maps.Copy(env, fastBridgeEnv())
		maps.Copy(env, map[string]string{
			"BRIDGE_NATS__URL":               cluster.URLs(),
			"BRIDGE_QUEUE__STREAM__REPLICAS": "3",
			"BRIDGE_RECEIVERS":               receiverJSON("load", token),
			"BRIDGE_HSS__CALLS_PER_MINUTE":   strconv.Itoa(clusterCallsPerMin),
			"BRIDGE_HSS__BURST":              strconv.Itoa(clusterBurst),
		})
		maps.Copy(env, sharedLimiterEnv)
		bridges = append(bridges, startHostBridge(t, image, "bridge-"+strconv.Itoa(i+1), env))
	}
	ctx := ctxDeadline(t, 4*time.Minute)
	if n, err := streamReplicas(ctx, js); err != nil || n != 3 {
		t.Fatalf("the job stream has %d replicas (%v), want 3", n, err)
	}

	load := startLoad(ctx, bridges, token, clusterLoadPerSecond)
	defer load.stop()
	began := time.Now()
	if err := sleepCtx(ctx, clusterWarmUp); err != nil {
		t.Fatal(err)
	}
	if n := len(hss.Requests()); n == 0 {
		t.Fatalf("no HSS call after %s of load; HSS refused %v", clusterWarmUp, hss.Refusals())
	}

	leaderName, err := streamLeader(ctx, js, jobStream)
	if err != nil {
		t.Fatal(err)
	}
	leader, err := cluster.node(leaderName)
	if err != nil {
		t.Fatal(err)
	}
	stopped := bridges[1]
	failoverAt := time.Now()
	if err := both(
		func() error { return leader.stop(ctx) },
		func() error { return stopped.stop(ctx, 15*time.Second) },
	); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped the stream leader %s and %s at %s", leader.name, stopped.name, failoverAt.Sub(began).Round(time.Millisecond))

	// Keep them down for the least outage and until jobs accepted since
	// the failover began reach HSS: the consumer must go on without them.
	if err := sleepCtx(ctx, clusterMinOutage-time.Since(failoverAt)); err != nil {
		t.Fatal(err)
	}
	progress := func() int { return len(deliveredSince(hss.Items(), load.acceptedSince(failoverAt))) }
	if err := poll(ctxDeadline(t, time.Minute), 250*time.Millisecond, func() (bool, error) {
		return progress() >= progressDuringOutage, nil
	}); err != nil {
		t.Fatalf("with %s and %s down, only %d jobs accepted since reached HSS (want %d): %v",
			leader.name, stopped.name, progress(), progressDuringOutage, err)
	}
	newLeader, _ := streamLeader(ctx, js, jobStream)
	if err := both(
		func() error { return leader.start(ctx) },
		func() error { return stopped.start(ctx) },
	); err != nil {
		t.Fatal(err)
	}
	backAt := time.Now()
	t.Logf("%s and %s back at %s (outage %s; leader meanwhile %s)", leader.name, stopped.name,
		backAt.Sub(began).Round(time.Millisecond), backAt.Sub(failoverAt).Round(time.Millisecond), newLeader)

	if err := sleepCtx(ctx, clusterAfterwards); err != nil {
		t.Fatal(err)
	}
	load.stop()
	loadEnd := time.Now()

	// Everything accepted must reach HSS, and the consumer must end with
	// nothing pending.
	accepted := load.accepted()
	drain := ctxDeadline(t, 90*time.Second)
	if err := poll(drain, 250*time.Millisecond, func() (bool, error) {
		return len(deliveredSince(hss.Items(), accepted)) == len(accepted), nil
	}); err != nil {
		t.Errorf("after the load, %d of %d accepted jobs reached HSS: %v", len(deliveredSince(hss.Items(), accepted)), len(accepted), err)
	}
	if err := waitConsumerSettled(drain, js); err != nil {
		t.Error(err)
	}

	f := clusterFigures(hss.Requests(), hss.Items(), load, failoverAt, backAt)
	t.Logf("cluster failover (load %d/s for %s; failover at +%s for %s):\n"+
		"  webhooks: %d sent, %d accepted (202), %d never accepted, %d answered by the other replica after a failed attempt\n"+
		"  jobs: %d delivered, %d lost, %d duplicates (scanned again), %d scanned without a 202\n"+
		"  HSS calls: %d in %s = %.1f/min across both replicas (bridge-1 %d, bridge-2 %d); most in any 60 s window: %d (limit %d + burst %d)\n"+
		"  longest pause between HSS calls: %s during the failover, %s outside it\n"+
		"  longest wait from 202 to scan request: %s for jobs accepted during the failover, %s for the others\n"+
		"  refused by HSS: %d",
		clusterLoadPerSecond, loadEnd.Sub(began).Round(time.Second), failoverAt.Sub(began).Round(time.Second), backAt.Sub(failoverAt).Round(time.Millisecond),
		f.sent, f.accepted, f.neverAccepted, f.rerouted,
		f.delivered, f.lost, f.duplicates, f.unacknowledged,
		f.calls, f.span.Round(time.Second), f.perMinute, f.perReplica[hss.identity(0)], f.perReplica[hss.identity(1)],
		f.maxWindow, clusterCallsPerMin, clusterBurst,
		f.pauseFailover.Round(time.Millisecond), f.pauseElsewhere.Round(time.Millisecond),
		f.waitFailover.Round(time.Millisecond), f.waitElsewhere.Round(time.Millisecond),
		len(hss.Refusals()))

	if f.lost != 0 {
		t.Errorf("%d accepted jobs never reached HSS, e.g. %v", f.lost, f.lostSample)
	}
	if limit := clusterCallsPerMin + clusterBurst; f.maxWindow > limit {
		t.Errorf("the replicas together made %d HSS calls within 60 s; the deployment's limit is %d a minute (+%d burst): "+
			"the rate limit must be shared by the replicas, not applied by each", f.maxWindow, clusterCallsPerMin, clusterBurst)
	}
	if r := hss.Refusals(); len(r) > 0 {
		t.Errorf("HSS refused %d requests, e.g. %+v", len(r), r[0])
	}
	for i := range bridges {
		if f.perReplica[hss.identity(i)] == 0 {
			t.Errorf("%s made no HSS call: the replicas do not share the consumer's work", bridges[i].name)
		}
	}
	// The restarted replica must have rejoined the shared consumer.
	rejoined := 0
	for _, r := range hss.Requests() {
		if r.Identity == hss.identity(1) && r.Time.After(backAt) {
			rejoined++
		}
	}
	if rejoined == 0 {
		t.Errorf("%s made no HSS call after it was started again", stopped.name)
	}
}

// streamReplicas is the job stream's replica count as the cluster
// reports it (a bridge created the stream at start).
func streamReplicas(ctx context.Context, js jetstream.JetStream) (int, error) {
	s, err := js.Stream(ctx, jobStream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", jobStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w", jobStream, err)
	}
	return info.Config.Replicas, nil
}

// failoverFigures is what TestClusterFailover measures.
type failoverFigures struct {
	sent, accepted, neverAccepted, rerouted     int
	delivered, lost, duplicates, unacknowledged int
	lostSample                                  []string
	calls                                       int
	perReplica                                  map[string]int // identity → calls
	span                                        time.Duration
	perMinute                                   float64
	maxWindow                                   int
	pauseFailover, pauseElsewhere               time.Duration
	// waitFailover and waitElsewhere are the longest time from a job's
	// 202 to its scan request, for jobs accepted during [from, to] and
	// for the others.
	waitFailover, waitElsewhere time.Duration
}

// clusterFigures counts jobs by tag (each webhook of the load is one tag)
// and HSS calls by their arrival at the fake. The failover's pauses are the
// gaps between consecutive calls that overlap [from, to+15s]: the outage and
// the catching up after it.
func clusterFigures(reqs []hsstest.Request, items []hsstest.Item, load *loadGen, from, to time.Time) failoverFigures {
	var f failoverFigures
	sent, accepted, rerouted := load.counts()
	f.sent, f.accepted, f.rerouted = sent, len(accepted), rerouted
	f.neverAccepted = sent - len(accepted)
	scans := map[string]int{}
	for _, it := range items {
		if it.Namespace == loadNamespace {
			scans[it.ImageVersion]++
		}
	}
	for tag, n := range scans {
		f.duplicates += n - 1
		if _, ok := accepted[tag]; !ok {
			f.unacknowledged++
		}
	}
	firstScan := map[string]time.Time{}
	for _, it := range items {
		if at, ok := firstScan[it.ImageVersion]; it.Namespace == loadNamespace && (!ok || it.Time.Before(at)) {
			firstScan[it.ImageVersion] = it.Time
		}
	}
	for tag, at := range accepted {
		if scan, ok := firstScan[tag]; ok {
			if wait := scan.Sub(at); !at.Before(from) && !at.After(to) {
				f.waitFailover = max(f.waitFailover, wait)
			} else {
				f.waitElsewhere = max(f.waitElsewhere, wait)
			}
		}
		if scans[tag] > 0 {
			f.delivered++
		} else {
			f.lost++
			if len(f.lostSample) < 5 {
				f.lostSample = append(f.lostSample, tag)
			}
		}
	}

	times := make([]time.Time, len(reqs))
	f.perReplica = map[string]int{}
	for i, r := range reqs {
		times[i] = r.Time
		f.perReplica[r.Identity]++
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	f.calls = len(times)
	if f.calls > 1 {
		f.span = times[len(times)-1].Sub(times[0])
		f.perMinute = float64(f.calls-1) / f.span.Minutes()
	}
	f.maxWindow = maxInWindow(times, time.Minute)
	until := to.Add(15 * time.Second)
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		if times[i].After(from) && times[i-1].Before(until) {
			f.pauseFailover = max(f.pauseFailover, gap)
		} else {
			f.pauseElsewhere = max(f.pauseElsewhere, gap)
		}
	}
	return f
}

// maxInWindow is the most times (sorted) within any window of length w.
func maxInWindow(times []time.Time, w time.Duration) int {
	most, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= w {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}

// deliveredSince returns the tags of accepted that HSS was asked to scan.
func deliveredSince(items []hsstest.Item, accepted map[string]time.Time) map[string]bool {
	out := map[string]bool{}
	for _, it := range items {
		if _, ok := accepted[it.ImageVersion]; ok && it.Namespace == loadNamespace {
			out[it.ImageVersion] = true
		}
	}
	return out
}

// The load pushes load/app:<n>, one tag per webhook.
const (
	loadNamespace  = "load"
	loadRepository = "load/app"
)

// loadGen sends a steady stream of push webhooks, one new tag each, to
// the bridges in turn; a webhook that fails (connection refused while a
// replica is down, 503 while the store is unavailable) is sent again to
// the other replica, as a load balancer and the registry's retries would.
type loadGen struct {
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	sent     int
	rerouted int
	ok       map[string]time.Time // tag → when it was answered 202
}

// startLoad sends perSecond webhooks a second until stop or ctx ends.
func startLoad(ctx context.Context, bridges []*hostBridge, token string, perSecond int) *loadGen {
	ctx, cancel := context.WithCancel(ctx)
	g := &loadGen{cancel: cancel, done: make(chan struct{}), ok: map[string]time.Time{}}
	go func() {
		defer close(g.done)
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-ctx.Done():
				g.wg.Wait()
				return
			case <-tick.C:
			}
			g.mu.Lock()
			g.sent++
			g.mu.Unlock()
			g.wg.Go(func() { g.send(ctx, bridges, token, seq) })
		}
	}()
	return g
}

// send delivers webhook seq, trying each replica in turn, at most four
// attempts half a second apart.
func (g *loadGen) send(ctx context.Context, bridges []*hostBridge, token string, seq int) {
	tag := fmt.Sprintf("%07d", seq)
	sum := sha256.Sum256([]byte(tag))
	body := distPushEnvelope(loadRepository, tag, "sha256:"+hex.EncodeToString(sum[:]))
	for attempt := range 4 {
		b := bridges[(seq+attempt)%len(bridges)]
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 12*time.Second)
		status, _, err := postWebhook(rctx, httpClient, b.URL, "load", token, body)
		cancel()
		if err == nil && status == http.StatusAccepted {
			g.mu.Lock()
			g.ok[tag] = time.Now()
			if attempt > 0 {
				g.rerouted++
			}
			g.mu.Unlock()
			return
		}
		if sleepCtx(ctx, 500*time.Millisecond) != nil {
			return // the load is over: counted as never accepted
		}
	}
}

// stop ends the load and waits for webhooks in flight.
func (g *loadGen) stop() {
	g.cancel()
	<-g.done
}

// accepted returns every tag answered 202 and when.
func (g *loadGen) accepted() map[string]time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.ok)
}

// acceptedSince returns the tags answered 202 after t.
func (g *loadGen) acceptedSince(t time.Time) map[string]time.Time {
	out := map[string]time.Time{}
	for tag, at := range g.accepted() {
		if at.After(t) {
			out[tag] = at
		}
	}
	return out
}

func (g *loadGen) counts() (sent int, accepted map[string]time.Time, rerouted int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sent, maps.Clone(g.ok), g.rerouted
}

// both runs a and b at once and returns their errors.
func both(a, b func() error) error {
	var wg sync.WaitGroup
	var errA, errB error
	wg.Go(func() { errA = a() })
	wg.Go(func() { errB = b() })
	wg.Wait()
	return errors.Join(errA, errB)
}

// sleepCtx waits d (a phase of a load test: the load runs meanwhile), or
// returns ctx's error if it ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
