package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/ratelimit"
)

// API names one HSS API as HSS's gateway counts it: each has its own quota
// of 5 calls a minute per user ("Limitations and Constraints",
// https://support.huaweicloud.com/intl/en-us/api-hss2.0/hss_02_0005.html),
// so five list polls in a minute do not use up the scan budget. The value
// is the api label of the HSS metrics and the api attribute of the logs.
type API string

// The HSS APIs the bridge calls or may call. Each is one budget.
const (
	// APIBatchScan is POST /v5/{project_id}/image/batch-scan.
	APIBatchScan API = "batch-scan"
	// APISwrRepository is GET /v5/{project_id}/image/swr-repository
	// (ListSwrImageRepository): presence checks and the watch.
	APISwrRepository API = "swr-repository"
	// APISynchronize is POST /v5/{project_id}/image/synchronize
	// (RunImageSynchronize).
	APISynchronize API = "synchronize"
	// APIScanTasks is POST /v5/{project_id}/image/image-scan/tasks
	// (CreateManualImageScanTask).
	APIScanTasks API = "image-scan-tasks"
	// APITasks is GET /v5/{project_id}/image/tasks (ListImageScanTask).
	APITasks API = "tasks"
	// APISyncTasks is POST /v5/{project_id}/image/image-sync/tasks
	// (CreateImageSynchronizeTask).
	APISyncTasks API = "image-sync-tasks"
	// APIRegistryImages is GET /v5/{project_id}/image/registries/images
	// (ListRegistryImages).
	APIRegistryImages API = "registry-images"
)

// APIs is every API with a budget, in a fixed order.
var APIs = []API{APIBatchScan, APISwrRepository, APISynchronize, APIScanTasks, APITasks, APISyncTasks, APIRegistryImages}

// Priority orders the calls waiting for the same API's next permit.
type Priority int

const (
	// PriorityPush is the push path: scans, presence checks and syncs an
	// image that was just pushed waits on. A waiting push-path call takes
	// the next permit before any waiting watch call.
	PriorityPush Priority = iota
	// PriorityWatch is the watch: polls for the result of a scan already
	// requested. It only delays when a result is seen, never whether.
	PriorityWatch
	numPriorities
)

func (p Priority) String() string {
	switch p {
	case PriorityPush:
		return "push"
	case PriorityWatch:
		return "watch"
	}
	return fmt.Sprintf("priority(%d)", int(p))
}

// ErrNoBudget is returned for an API the quota has no limiter for.
var ErrNoBudget = errors.New("no rate budget for this HSS API")

// Quota is the one scheduler of the bridge's HSS calls: one budget (a
// ratelimit limiter) per HSS user and API, and within an API the push path
// ahead of the watch.
//
// How the priority works: a limiter grants permits in the order callers
// reserve them, and a reserved slot cannot be handed to someone who comes
// later. So callers do not reserve themselves. Per API, while anyone waits,
// one goroutine (the pump) waits on the limiter for the next permit, and
// when it is granted gives it to the first waiting push-path call, or else
// to the first waiting watch call. A push that arrives while a watch poll
// waits therefore takes the permit the watch was waiting for. When every
// caller has left, the pump's wait is cancelled, which gives its reserved
// slot back to the limiter (ratelimit: a cancelled reservation that nobody
// wrote after is undone), and the pump ends: an idle quota runs no
// goroutine.
//
// The priority is per replica: a shared budget hands slots out in the
// order the replicas' pumps reserve them, so a watch poll another replica
// reserved first still goes first. Only the lease holder watches, so a
// push waits at most one extra interval for it.
//
// The limiters are ratelimit's: the same GCRA with its 2 % margin, so no
// sliding minute holds more than the quota, and the same AIMD response to
// 429s, per API. Shared (OpenSharedQuota), each API's state is one key of
// the limits bucket, shared by every replica: the batch-scan key stays the
// one the bridge always used (hss.limit_kv.key), so a running deployment
// keeps its state across the upgrade.
type Quota struct {
	lanes  map[API]*lane
	log    *slog.Logger
	health *AuthHealth
}

// NewQuota builds a quota on the given limiters, one per API. An API
// without one is refused by Wait with ErrNoBudget.
func NewQuota(limiters map[API]ratelimit.Limiter, log *slog.Logger) *Quota {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Quota{lanes: make(map[API]*lane, len(limiters)), log: log.With("component", "hss"),
		health: &AuthHealth{}}
	for api, lim := range limiters {
		if lim != nil {
			q.lanes[api] = &lane{lim: lim}
		}
	}
	return q
}

// NewLocalQuota is a quota of process-local limiters (ratelimit.Adaptive),
// one per API, each at cfg: for a single replica, a dry run or a test.
func NewLocalQuota(cfg ratelimit.Config, log *slog.Logger) (*Quota, error) {
	lims := make(map[API]ratelimit.Limiter, len(APIs))
	for _, api := range APIs {
		a, err := ratelimit.NewAdaptive(cfg, ratelimit.WithLogger(limiterLogger(log, api)))
		if err != nil {
			return nil, fmt.Errorf("hss rate limit for %s: %w", api, err)
		}
		lims[api] = a
	}
	return NewQuota(lims, log), nil
}

// OpenSharedQuota opens one shared limiter per API in kv's bucket, each at
// cfg: APIBatchScan on kv.Key, the others on QuotaKey(kv.Key, api).
func OpenSharedQuota(ctx context.Context, js jetstream.JetStream, cfg ratelimit.Config, kv ratelimit.KVConfig, log *slog.Logger) (*Quota, error) {
	kv = kv.WithDefaults()
	lims := make(map[API]ratelimit.Limiter, len(APIs))
	for _, api := range APIs {
		k := kv
		k.Key = QuotaKey(kv.Key, api)
		s, err := ratelimit.OpenShared(ctx, js, cfg, k, ratelimit.WithLogger(limiterLogger(log, api)))
		if err != nil {
			return nil, fmt.Errorf("shared hss rate limit for %s: %w", api, err)
		}
		lims[api] = s
	}
	return NewQuota(lims, log), nil
}

// QuotaKey is the KV key of api's shared state when batch-scan's is key.
// Batch-scan keeps key itself (the key of every earlier version). The
// others get hss_<api> next to the default key (hss_swr_repository, ...),
// or <key>.<api> next to a key of the operator's choosing, so two
// deployments that share a bucket under different keys (two HSS users)
// keep their budgets apart for every API.
func QuotaKey(key string, api API) string {
	if api == APIBatchScan {
		return key
	}
	tok := strings.ReplaceAll(string(api), "-", "_")
	if key == ratelimit.DefaultKey {
		return "hss_" + tok
	}
	return key + "." + tok
}

func limiterLogger(log *slog.Logger, api API) *slog.Logger {
	if log == nil {
		return nil
	}
	return log.With("api", string(api))
}

// Wait blocks until a call to api may be made, or ctx is done. Among the
// callers waiting for the same API, push-path calls get permits before
// watch calls, each kind first come first served. release is to be called
// when the call has ended; it is safe to call more than once.
func (q *Quota) Wait(ctx context.Context, api API, p Priority) (release func(), err error) {
	if _, err := q.Take(ctx, api, p); err != nil {
		return nil, err
	}
	return func() {}, nil
}

// Take is Wait returning the permit, so that a caller who then makes no
// call (the presence gate found none of a batch's images) gives it back
// with Permit.Refund rather than spend a fifth of the API's minute.
func (q *Quota) Take(ctx context.Context, api API, p Priority) (ratelimit.Permit, error) {
	l, ok := q.lanes[api]
	if !ok {
		return ratelimit.Permit{}, fmt.Errorf("wait for hss %s: %w", api, ErrNoBudget)
	}
	if p < 0 || p >= numPriorities {
		p = PriorityWatch
	}
	if err := ctx.Err(); err != nil {
		return ratelimit.Permit{}, fmt.Errorf("wait for hss %s rate limit: %w", api, err)
	}
	w := &waiter{granted: make(chan ratelimit.Permit, 1)}
	l.enqueue(w, p)
	select {
	case permit := <-w.granted:
		return permit, nil
	case <-ctx.Done():
		if !l.leave(w, p) {
			// Granted as ctx ended: hand the permit to the next waiter
			// rather than waste a twelfth of a minute.
			l.handOn(<-w.granted)
		}
		return ratelimit.Permit{}, fmt.Errorf("wait for hss %s rate limit: %w", api, ctx.Err())
	}
}

// Feedback reports how a call to api made under a permit ended: throttled
// for a 429, not throttled for an accepted call. Report nothing for other
// failures; they say nothing about the rate.
func (q *Quota) Feedback(ctx context.Context, api API, throttled bool) {
	l, ok := q.lanes[api]
	if !ok {
		return
	}
	if err := l.lim.Feedback(ctx, throttled); err != nil {
		q.log.Warn("rate limit feedback lost", "api", string(api), "throttled", throttled, "error", err)
	}
}

// Health is the authentication health of the HSS calls, once HSS.UseQuota
// joined it to the client's calls: /readyz's HSS check.
func (q *Quota) Health() *AuthHealth { return q.health }

// Rate is api's current rate in calls per minute (0 for an API without a
// budget).
func (q *Quota) Rate(api API) float64 {
	if l, ok := q.lanes[api]; ok {
		return l.lim.Rate()
	}
	return 0
}

// Limiter is api's budget at priority p as a ratelimit.Limiter, for code
// that paces itself through that interface (HSS.Acquire).
func (q *Quota) Limiter(api API, p Priority) ratelimit.Limiter {
	return quotaLimiter{q: q, api: api, p: p}
}

type quotaLimiter struct {
	q   *Quota
	api API
	p   Priority
}

func (l quotaLimiter) Wait(ctx context.Context) error {
	_, err := l.q.Take(ctx, l.api, l.p)
	return err
}

func (l quotaLimiter) Take(ctx context.Context) (ratelimit.Permit, error) {
	return l.q.Take(ctx, l.api, l.p)
}

func (l quotaLimiter) Feedback(ctx context.Context, throttled bool) error {
	l.q.Feedback(ctx, l.api, throttled)
	return nil
}

func (l quotaLimiter) Rate() float64 { return l.q.Rate(l.api) }

// lane is one API's budget and its waiting callers.
type lane struct {
	lim ratelimit.Limiter

	mu      sync.Mutex
	queue   [numPriorities][]*waiter
	pumping bool
	cancel  context.CancelFunc // the pump's current wait, nil between waits
	// passedOver counts the permits that went to a higher priority in a
	// row while a lower one waited (aging: see grantNext).
	passedOver int
}

// maxPassedOver is how many permits in a row the push path may take while
// a watch poll waits. Strict priority starved the watcher: a backlog of
// deferred images brings its presence checks back at every list permit,
// and the watcher, which finishes scans (and so ends the backlog), got
// none for a quarter of an hour (scripts/lifecycle-run, scenario A). So
// one permit in maxPassedOver+1 goes to the oldest lower-priority waiter:
// pushes keep four fifths of a contended budget, and a watch round waits
// at most five permits.
const maxPassedOver = 4

// pumpRetry spaces the pump's waits after a limiter error that was not a
// cancellation (none of ratelimit's limiters returns one today).
const pumpRetry = 100 * time.Millisecond

// waiter is one caller waiting in a lane; granted receives its permit
// (the zero Permit from a limiter that cannot refund).
type waiter struct{ granted chan ratelimit.Permit }

func (l *lane) enqueue(w *waiter, p Priority) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queue[p] = append(l.queue[p], w)
	if !l.pumping {
		l.pumping = true
		go l.pump()
	}
}

// leave removes w, which gave up; false when it was granted meanwhile.
// When nobody waits any more, the pump's pending wait is cancelled so its
// slot goes back to the limiter.
func (l *lane) leave(w *waiter, p Priority) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := -1
	for j, x := range l.queue[p] {
		if x == w {
			i = j
			break
		}
	}
	if i < 0 {
		return false
	}
	l.queue[p] = append(l.queue[p][:i], l.queue[p][i+1:]...)
	if l.empty() && l.cancel != nil {
		l.cancel()
	}
	return true
}

func (l *lane) empty() bool {
	for _, q := range l.queue {
		if len(q) > 0 {
			return false
		}
	}
	return true
}

// grantNext gives permit to the first waiter of the highest priority,
// unless lower priorities have waited through maxPassedOver grants: then
// to the first waiter of the lowest priority that waits. False when nobody
// waits. l.mu is held.
func (l *lane) grantNext(permit ratelimit.Permit) bool {
	first, last := -1, -1
	for p := range l.queue {
		if len(l.queue[p]) > 0 {
			if first < 0 {
				first = p
			}
			last = p
		}
	}
	if first < 0 {
		return false
	}
	p := first
	switch {
	case last == first:
		l.passedOver = 0
	case l.passedOver >= maxPassedOver:
		p, l.passedOver = last, 0
	default:
		l.passedOver++
	}
	{
		w := l.queue[p][0]
		l.queue[p][0] = nil
		l.queue[p] = l.queue[p][1:]
		w.granted <- permit
		return true
	}
}

// handOn passes on a permit whose caller left after it was granted. With
// nobody waiting it is refunded.
func (l *lane) handOn(permit ratelimit.Permit) {
	l.mu.Lock()
	handed := l.grantNext(permit)
	l.mu.Unlock()
	if !handed {
		l.refund(permit)
	}
}

// refund gives an unused permit back to the limiter.
func (l *lane) refund(permit ratelimit.Permit) {
	ctx, cancel := context.WithTimeout(context.Background(), refundTimeout)
	defer cancel()
	_ = permit.Refund(ctx) // a lost refund errs on the slow side
}

// refundTimeout bounds giving a permit back (one compare-and-set).
const refundTimeout = 5 * time.Second

// take waits on lim for one permit: Take when lim can refund, else Wait
// and the zero permit.
func take(ctx context.Context, lim ratelimit.Limiter) (ratelimit.Permit, error) {
	if t, ok := lim.(ratelimit.Taker); ok {
		return t.Take(ctx)
	}
	return ratelimit.Permit{}, lim.Wait(ctx)
}

// pump waits on the limiter for one permit at a time while anyone waits
// and gives each to the waiter of the highest priority at the moment it
// is granted.
func (l *lane) pump() {
	for {
		l.mu.Lock()
		if l.empty() {
			l.pumping = false
			l.mu.Unlock()
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel = cancel
		l.mu.Unlock()

		permit, err := take(ctx, l.lim)

		l.mu.Lock()
		l.cancel = nil
		cancel()
		unused := err == nil && !l.grantNext(permit)
		l.mu.Unlock()
		if unused {
			// The last waiter left as the permit was granted: give it back.
			l.refund(permit)
		}
		// An error means every waiter left (the wait was cancelled): the
		// loop ends at the top unless someone came meanwhile. Limiters
		// fail only on their ctx; should one fail otherwise, do not spin.
		if err != nil && ctx.Err() == nil {
			time.Sleep(pumpRetry)
		}
	}
}
