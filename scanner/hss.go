package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/ratelimit"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// Options are the optional dependencies of NewHSS.
type Options struct {
	// DryRun replaces HSS by the in-process simulator (hsstest), which
	// checks and logs every request: the request path, validation and
	// limits stay the real ones.
	DryRun bool
	// Registry receives the HSS metrics; nil registers none.
	Registry prometheus.Registerer
	// Logger is the process logger; nil discards. The parts that name
	// their own component (ratelimit, hssclient, the simulator) log
	// through it.
	Logger *slog.Logger
	// UserAgent is the User-Agent of every call (signed, as in the SDK);
	// empty leaves hssclient's default.
	UserAgent string
	// PresenceTimeouts maps a receiver's name to its presence_timeout
	// (config.Config.PresenceTimeouts); receivers not in it wait
	// DefaultPresenceTimeout. Used with hss.presence_check only.
	PresenceTimeouts map[string]time.Duration
}

// HSS is the HSS side of the bridge: the client (talking, in a dry run, to
// the simulator), the one rate limiter and the call slots. It implements
// queue.Scanner and is safe for concurrent use.
type HSS struct {
	cfg     Config
	client  *hssclient.Client
	limiter ratelimit.Limiter
	slots   chan struct{}
	metrics *metrics
	log     *slog.Logger // component=hss
	root    *slog.Logger // for parts that name their own component
	// presence is the presence gate (presence.go); nil when
	// hss.presence_check is off.
	presence *presenceGate
	// localQuota paces the gate's list and sync calls until UseQuota
	// puts batch-scan under a shared Quota, which they then use too.
	localQuota *Quota
	// life writes lifecycle transitions (UseLifecycle); zero: none.
	life lifeWriter
	// catalog is the HSS APIs of the lifecycle (hss.api, catalog.go).
	catalog Catalog
	// sim is the dry run's simulator, nil otherwise.
	sim *hsstest.Fake
}

var _ queue.Scanner = (*HSS)(nil)

// NewHSS builds the HSS side from c. It reads secret files but calls
// nobody: credentials missing from c and the environment are reported
// here, before anything else starts, as the commonest start-up mistake.
//
// The limiter starts process-local; UseSharedLimit swaps in the
// cluster-wide one once NATS is up.
func NewHSS(c Config, o Options) (*HSS, error) {
	root := o.Logger
	if root == nil {
		root = slog.New(slog.DiscardHandler)
	}
	var (
		auth hssclient.Authenticator
		hc   *http.Client
	)
	var sim *hsstest.Fake
	if o.DryRun {
		// The simulator knows the token; the client reaches it through
		// its transport, so nothing listens and nothing leaves the process.
		// It models the lifecycle: a push reaches its SWR after a lag
		// (HSS.Scan reports each job's push, see dryRunPushed), a sync
		// or an automatic one makes HSS know it, and a scan takes time,
		// so the presence gate stays on and a dry run's log shows
		// accepted, waiting_presence, scan_requested, scanning and
		// scanned.
		sim = hsstest.New(hsstest.SimulatorOptions(hsstest.Options{Tokens: []string{"dry-run"}, Logger: root,
			SyncDelay: dryRunSyncDelay, ScanQueueDelay: dryRunScanQueue, ScanDuration: dryRunScanLength}))
		var err error
		if auth, err = hssclient.StaticToken(hssclient.NewSecret("dry-run")); err != nil {
			return nil, err
		}
		c.Endpoint = "http://hss-simulator.invalid"
		hc = &http.Client{Transport: sim.Transport()}
	} else {
		var err error
		if auth, err = c.authenticator(root.With("component", "hss")); err != nil {
			return nil, err
		}
	}
	h, err := newHSS(c, o, auth, hc)
	if err != nil {
		return nil, err
	}
	h.sim = sim
	return h, nil
}

// Dry-run simulator timings: a sync takes 5 s, a scan waits 3 s and runs
// 40 s, long enough for the watcher to see it running, short enough to
// watch a whole lifecycle in a minute or two.
const (
	dryRunSyncDelay  = 5 * time.Second
	dryRunScanQueue  = 3 * time.Second
	dryRunScanLength = 40 * time.Second
)

// dryRunPushed reports the jobs' pushes to the simulator, as the registry
// would have replicated them: each at the time its webhook was accepted
// (the simulator adds its replication lag). Reporting one again changes
// nothing, so a redelivered job does no harm.
func (h *HSS) dryRunPushed(items []scanjob.Job) {
	for _, j := range items {
		at := j.AcceptedAt
		if at.IsZero() {
			at = time.Now()
		}
		h.sim.Pushed(hsstest.Target{Region: j.Target.Region, ProjectID: j.Target.ProjectID}, string(j.Target.ImageType),
			hsstest.Ref{Namespace: j.Namespace, Image: j.Image, Tag: j.Tag}, j.Digest, at)
	}
}

// newHSS builds an HSS that authenticates with auth and sends through hc
// (nil: hssclient's default client). Tests use it to put a fake HSS behind
// the real path.
func newHSS(c Config, o Options, auth hssclient.Authenticator, hc *http.Client) (*HSS, error) {
	root := o.Logger
	if root == nil {
		root = slog.New(slog.DiscardHandler)
	}
	if c.MaxConcurrent < 1 {
		return nil, fmt.Errorf("hss.max_concurrent %d: must be at least 1", c.MaxConcurrent)
	}
	local, err := ratelimit.NewAdaptive(c.rateConfig(), ratelimit.WithLogger(root))
	if err != nil {
		return nil, fmt.Errorf("hss rate limit: %w", err)
	}
	h := &HSS{
		cfg:     c,
		limiter: local,
		slots:   make(chan struct{}, c.MaxConcurrent),
		metrics: newMetrics(o.Registry),
		log:     root.With("component", "hss"),
		root:    root,
	}
	h.metrics.rate(h.Rate)
	h.life = lifeWriter{h: h}
	if h.catalog, err = newCatalog(c.API, hssCalls{h}, h.log); err != nil {
		return nil, err
	}
	if c.PresenceCheck {
		if h.localQuota, err = NewLocalQuota(c.rateConfig(), root); err != nil {
			return nil, fmt.Errorf("hss presence rate limit: %w", err)
		}
		h.presence = newPresenceGate(presenceConfig{Timeouts: o.PresenceTimeouts, SyncInterval: c.SyncInterval},
			hssPresence{h}, h.log)
	}
	cfg := hssclient.Config{Auth: auth, Endpoint: c.Endpoint, UserAgent: o.UserAgent, CallTimeout: c.CallTimeout}
	// No hssclient.WithPacer: Acquire takes the call slot and the permit
	// before the queue packs a call, so the client must not wait again.
	opts := []hssclient.Option{hssclient.WithLogger(root), hssclient.WithObserver(h.metrics)}
	if hc != nil {
		opts = append(opts, hssclient.WithHTTPClient(hc))
	}
	if h.client, err = hssclient.New(cfg, opts...); err != nil {
		return nil, fmt.Errorf("hss client: %w", err)
	}
	return h, nil
}

// UseSharedLimit replaces the process-local limiter by the one every
// replica shares through JetStream KV (hss.limit_kv). replicas is the KV
// bucket's replica count when hss.limit_kv.replicas leaves it 0: the job
// stream's. Call it before the first Acquire.
func (h *HSS) UseSharedLimit(ctx context.Context, js jetstream.JetStream, replicas int) error {
	kv := h.cfg.LimitKV
	if kv.Replicas == 0 {
		kv.Replicas = replicas
	}
	kv.Key = QuotaKey(kv.Key, h.catalog.ScanAPI())
	shared, err := ratelimit.OpenShared(ctx, js, h.cfg.rateConfig(), kv, ratelimit.WithLogger(h.root))
	if err != nil {
		return fmt.Errorf("shared hss rate limit: %w", err)
	}
	h.limiter = shared
	return nil
}

// Rate is the limiter's current rate in calls per minute: the ceiling, or
// less after 429s.
func (h *HSS) Rate() float64 { return h.limiter.Rate() }

// Acquire implements queue.Scanner: a call slot, then a rate permit. The
// caller does not say whether it used the permit, so it is never given
// back (AcquirePermit is the consumer's way).
func (h *HSS) Acquire(ctx context.Context) (func(), error) {
	p, err := h.AcquirePermit(ctx)
	if err != nil {
		return nil, err
	}
	hp := p.(*hssPermit)
	hp.used.Store(true)
	return hp.Release, nil
}

var _ queue.PermitScanner = (*HSS)(nil)

// AcquirePermit implements queue.PermitScanner: Acquire, with a permit
// that is given back to the limiter when it is released without a
// batch-scan made under it (the presence gate found none of the call's
// images in HSS, the list failed, or the consumer packed nothing): at 5
// calls a minute an unused permit would otherwise hold up the next
// pushes for 12 s.
func (h *HSS) AcquirePermit(ctx context.Context) (queue.Permit, error) {
	start := time.Now()
	defer func() { h.metrics.wait.Observe(time.Since(start).Seconds()) }()
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var lp ratelimit.Permit
	var err error
	if t, ok := h.limiter.(ratelimit.Taker); ok {
		lp, err = t.Take(ctx)
	} else {
		err = h.limiter.Wait(ctx)
	}
	if err != nil {
		<-h.slots
		return nil, err
	}
	return &hssPermit{h: h, lim: lp}, nil
}

// hssPermit is one call slot and rate permit of h.
type hssPermit struct {
	h    *HSS
	lim  ratelimit.Permit
	used atomic.Bool // a batch-scan was sent under it
	once sync.Once
}

// Release implements queue.Permit: it frees the call slot and refunds
// the rate permit when no batch-scan was sent under it.
func (p *hssPermit) Release() {
	p.once.Do(func() {
		<-p.h.slots
		if p.used.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), refundTimeout)
		defer cancel()
		if err := p.lim.Refund(ctx); err != nil {
			p.h.log.Warn("unused batch-scan permit not given back", "error", err)
			return
		}
		p.h.log.Debug("unused batch-scan permit given back")
	})
}

// markSent records that a batch-scan goes out under the permit ctx
// carries (queue.WithPermit), so that its release does not refund it.
func (h *HSS) markSent(ctx context.Context) {
	if p, ok := queue.PermitFrom(ctx).(*hssPermit); ok && p.h == h {
		p.used.Store(true)
	}
}

// Scan implements queue.Scanner: one targeted batch scan of the items.
// With hss.presence_check, only of the items HSS knows; the others are
// deferred or given up through a *queue.Partial (presence_hss.go). With
// UseLifecycle, the accepted scan's records move to scan_requested before
// Scan returns, so a job is acked only after its record is stored.
func (h *HSS) Scan(ctx context.Context, t scanjob.Target, items []scanjob.Job) error {
	if h.sim != nil {
		h.dryRunPushed(items)
	}
	if h.presence != nil {
		return h.scanPresent(ctx, t, items)
	}
	start := time.Now()
	reqID, err := h.scanVia(ctx, t, items)
	if err == nil {
		h.life.scanRequested(ctx, items, start, lifecycle.Answer{API: hssAPIName(h.catalog.ScanAPI()),
			Status: http.StatusOK, RequestID: reqID, At: time.Now().UTC()})
	}
	return err
}

// Send makes one call under a slot and a permit, as the consumer does: a
// scan asked for by hand (bridge scan). It blocks until the permit or ctx.
func (h *HSS) Send(ctx context.Context, t hssclient.Target, req hssclient.BatchScanRequest) error {
	release, err := h.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	err = h.tracedBatchScan(ctx, t, req)
	h.feedback(ctx, err)
	return err
}

// feedback tells the limiter whether HSS throttled the call: a 429 cuts
// the rate, a success lets it climb back; other failures say nothing
// about the rate.
func (h *HSS) feedback(ctx context.Context, err error) {
	var api *hssclient.APIError
	throttled := errors.As(err, &api) && api.StatusCode == http.StatusTooManyRequests
	if err != nil && !throttled {
		return
	}
	if ferr := h.limiter.Feedback(ctx, throttled); ferr != nil {
		h.log.Warn("rate limit feedback lost", "throttled", throttled, "error", ferr)
	}
}

// Judge implements queue.Scanner. Auth and quota refusals are not the
// images' fault: they are retried (and alerted on), never dead-lettered.
func (h *HSS) Judge(err error) queue.Verdict {
	v := queue.Verdict{Class: queue.Retry}
	switch hssclient.Classify(err) {
	case hssclient.ClassOK:
		v.Class = queue.Accepted
	case hssclient.ClassPermanent:
		v.Class = queue.Permanent
	}
	var api *hssclient.APIError
	if errors.As(err, &api) {
		v.Status, v.Code, v.Message, v.RequestID = api.StatusCode, api.ErrorCode, api.ErrorMsg, api.RequestID
	} else if err != nil {
		v.Message = err.Error()
	}
	return v
}

func hssTarget(t scanjob.Target) hssclient.Target {
	return hssclient.Target{Region: t.Region, ProjectID: t.ProjectID, EnterpriseProjectID: t.EnterpriseProjectID}
}
