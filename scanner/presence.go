package scanner

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// The presence gate: HSS scans only images it already knows in SWR, and a
// push webhook arrives before a registry's replication into SWR ends (and
// before HSS re-read the SWR image list). So before a batch-scan the gate
// splits the items into those HSS is known to know and the others, and
// only the first are scanned; the others are deferred (queue.Partial) and
// come back after a backoff, until the receiver's presence_timeout since
// the job was accepted, when they are given up as not_in_swr.
//
// What HSS knows is learnt from ListSwrImageRepository, queried so that one
// call answers for every waiting image of a target and image type: the
// images updated since the oldest waiting job was accepted (minus a skew),
// across all namespaces, in pages of 200, a few pages at most per check,
// and at most one check per target every listInterval. 100 namespaces of
// waiting images cost one call, not 100. Rows are matched exactly:
// namespace, image name, tag, and the digest when the job has one (a
// re-pushed tag keeps its name and changes its digest; HSS's filters may
// match by substring, so the gate filters nothing by name).
//
// Images still unknown after a check trigger at most one
// RunImageSynchronize per target and image type per hss.sync_interval.
// instance_image (SWR Enterprise) has no sync in that API: those images
// only wait. The gate's state is per process: a second replica lists and
// syncs on its own (each within the shared quota), which costs calls but
// never a scan.
//
// A batch-scan answered 400 HSS.0011 (resource not found) means the gate
// took an image for known that HSS does not know (it was deleted, or the
// list and the scan disagree): the target's cache is dropped, and the
// call's items are deferred briefly, so the next check lists afresh. It is
// never bisected.

// presenceRow is one image the list showed, as the gate matches it.
type presenceRow struct {
	Namespace, Name, Version, Digest, InstanceID string
}

// presenceHSS is what the gate needs of HSS: one page of the images of t's
// image type updated since since, and a sync of t's image type.
type presenceHSS interface {
	listPage(ctx context.Context, t scanjob.Target, since time.Time, offset, limit int) (rows []presenceRow, total int, err error)
	sync(ctx context.Context, t scanjob.Target) error
}

// presenceConfig tunes the gate; withDefaults fills the zero fields.
type presenceConfig struct {
	// Timeouts maps a receiver to its presence_timeout; others get
	// DefaultTimeout.
	Timeouts       map[string]time.Duration
	DefaultTimeout time.Duration
	// SyncInterval is hss.sync_interval.
	SyncInterval time.Duration
	// ListInterval is the least time between two checks of one target:
	// the list API's quota is 5 calls a minute per user.
	ListInterval time.Duration
	// BackoffBase and BackoffCap shape a deferred item's delay: the
	// job's age since AcceptedAt, at least the base, at most the cap
	// (15s, 30s, 1m, ... when checks come on time: doubling).
	BackoffBase, BackoffCap time.Duration
	// Skew is subtracted from the oldest waiting job's AcceptedAt to
	// start the list's update-time window: clock differences between the
	// bridge, the registry and HSS.
	Skew time.Duration
	// PageSize and MaxPages bound one check: MaxPages calls of PageSize
	// rows.
	PageSize, MaxPages int
	// MaxKnown bounds the rows remembered per target; past it the cache
	// starts over (the next check lists again).
	MaxKnown int
}

// Presence defaults that are no setting.
const (
	defaultListInterval    = 12 * time.Second // 5 calls a minute
	defaultPresenceBackoff = 15 * time.Second
	defaultPresenceCap     = 5 * time.Minute
	defaultPresenceSkew    = 10 * time.Minute
	defaultListPages       = 3
	listPageSize           = 200 // the API's largest page
	defaultMaxKnown        = 100_000
)

func (c presenceConfig) withDefaults() presenceConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DefaultTimeout, DefaultPresenceTimeout)
	def(&c.SyncInterval, DefaultSyncInterval)
	def(&c.ListInterval, defaultListInterval)
	def(&c.BackoffBase, defaultPresenceBackoff)
	def(&c.BackoffCap, defaultPresenceCap)
	def(&c.Skew, defaultPresenceSkew)
	if c.PageSize <= 0 {
		c.PageSize = listPageSize
	}
	if c.MaxPages <= 0 {
		c.MaxPages = defaultListPages
	}
	if c.MaxKnown <= 0 {
		c.MaxKnown = defaultMaxKnown
	}
	return c
}

// Deferral reasons (queue.Deferral.Reason), also the lifecycle's states.
const (
	deferWaiting  = "waiting_presence" // not in the list yet
	deferSyncing  = "sync_requested"   // not in the list; a sync was asked for
	deferNotFound = "hss_not_found"    // batch-scan said HSS.0011
)

// presenceGate holds what each target's lists showed. Safe for concurrent
// use; checks of one target are serialised, so concurrent calls share one
// list call.
type presenceGate struct {
	cfg presenceConfig
	hss presenceHSS
	log *slog.Logger

	mu      sync.Mutex
	targets map[string]*targetPresence
}

// targetPresence is the gate's state for one target and image type.
type targetPresence struct {
	mu sync.Mutex
	// known are the rows seen, by namespace/name/tag.
	known map[string][]presenceRow
	// listedAt is when the last check started (zero: never, or
	// forgotten): checks are at least ListInterval apart.
	listedAt time.Time
	// completeAt is when the last check that read every row of its window
	// started: an item is given up only when such a check, started after
	// its deadline, did not find it (a check cut at MaxPages may have
	// left it on an unread page).
	completeAt time.Time
	// A window with more rows than one check reads (MaxPages) is read
	// over several checks, as one pass: nextOffset is where the next
	// check goes on (0: a new pass), passSince the window start of the
	// pass and passStart when its first check started, which is what a
	// complete pass sets completeAt to (rows added to pages it had read
	// already are seen by the next pass, so only the pass's start is
	// safe to give up against).
	nextOffset int
	passSince  time.Time
	passStart  time.Time
	syncedAt   time.Time
	// syncFailed remembers that the last sync was refused, for the reason.
	syncFailed bool
}

func newPresenceGate(cfg presenceConfig, hss presenceHSS, log *slog.Logger) *presenceGate {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &presenceGate{cfg: cfg.withDefaults(), hss: hss, log: log, targets: map[string]*targetPresence{}}
}

func (g *presenceGate) target(t scanjob.Target) *targetPresence {
	g.mu.Lock()
	defer g.mu.Unlock()
	tp := g.targets[t.Key()]
	if tp == nil {
		tp = &targetPresence{known: map[string][]presenceRow{}}
		g.targets[t.Key()] = tp
	}
	return tp
}

func rowKey(namespace, name, version string) string {
	return namespace + "\x00" + name + "\x00" + version
}

// knows reports whether one of the rows is j's image: the same namespace,
// name and tag (the key), the same digest when both have one, the same
// SWR Enterprise instance when both name one.
func (tp *targetPresence) knows(j scanjob.Job) bool {
	for _, r := range tp.known[rowKey(j.Namespace, j.Image, j.Tag)] {
		if j.Digest != "" && r.Digest != "" && !strings.EqualFold(j.Digest, r.Digest) {
			continue
		}
		if j.InstanceID != "" && r.InstanceID != "" && j.InstanceID != r.InstanceID {
			continue
		}
		return true
	}
	return false
}

func (tp *targetPresence) learn(rows []presenceRow, maxKnown int) {
	for _, r := range rows {
		k := rowKey(r.Namespace, r.Name, r.Version)
		if len(tp.known) >= maxKnown && tp.known[k] == nil {
			// Bounded: start over rather than grow; the waiting images
			// are learnt again by the next check.
			clear(tp.known)
		}
		if !containsRow(tp.known[k], r) {
			tp.known[k] = append(tp.known[k], r)
		}
	}
}

func containsRow(rows []presenceRow, r presenceRow) bool {
	for _, x := range rows {
		if x == r {
			return true
		}
	}
	return false
}

// presenceSplit is the gate's answer for one call's items.
type presenceSplit struct {
	// Known are the items to batch-scan now.
	Known []scanjob.Job
	// Deferred and GivenUp are keyed by ItemKey, as queue.Partial.
	Deferred map[string]queue.Deferral
	GivenUp  map[string]queue.GiveUp
	// Checks counts the list calls this split made (0: answered from
	// the cache).
	Checks int
	// Synced says a sync was asked for in this split.
	Synced bool
}

// split sorts items into known and not, checking HSS when items are
// unknown and the target's last check is older than ListInterval. It
// returns an error only when ctx ended (the call's outcome: Retry); a list
// or sync that failed otherwise is logged, and the unknown items wait for
// the next check.
func (g *presenceGate) split(ctx context.Context, t scanjob.Target, items []scanjob.Job) (presenceSplit, error) {
	out := presenceSplit{Deferred: map[string]queue.Deferral{}, GivenUp: map[string]queue.GiveUp{}}
	tp := g.target(t)
	tp.mu.Lock()
	defer tp.mu.Unlock()

	var unknown []scanjob.Job
	for _, j := range items {
		if j.AcceptedAt.IsZero() || tp.knows(j) {
			// A job without AcceptedAt has no deadline to wait against
			// (the publisher always sets it): scan it as before.
			out.Known = append(out.Known, j)
		} else {
			unknown = append(unknown, j)
		}
	}
	if len(unknown) == 0 {
		return out, nil
	}
	now := time.Now()
	if tp.listedAt.IsZero() || now.Sub(tp.listedAt) >= g.cfg.ListInterval {
		ctx := withWaiting(ctx, unknown)
		n, err := g.check(ctx, t, tp, unknown, now)
		out.Checks = n
		if err != nil && ctx.Err() != nil {
			return presenceSplit{}, err
		}
		still := unknown[:0:0]
		for _, j := range unknown {
			if tp.knows(j) {
				out.Known = append(out.Known, j)
			} else {
				still = append(still, j)
			}
		}
		unknown = still
		if len(unknown) > 0 && err == nil {
			out.Synced = g.maybeSync(ctx, t, tp, now)
		}
	}
	reason := deferWaiting
	if !tp.syncedAt.IsZero() && !tp.syncFailed && now.Sub(tp.syncedAt) < g.cfg.SyncInterval {
		reason = deferSyncing
	}
	for _, j := range unknown {
		g.deferOrGiveUp(&out, tp, j, now, reason, queue.Verdict{Class: queue.Permanent})
	}
	return out, nil
}

// check lists the images of t updated since the oldest unknown item was
// accepted (minus the skew), at most MaxPages pages, and learns them. It
// stops early once every unknown item is found. A window larger than
// MaxPages pages is read over several checks, each going on where the
// last stopped (one pass), so no row stays unread however many images
// wait; a pass starts again at the first page when an older item widens
// the window. It sets listedAt for a check whose pages all answered, and
// completeAt, to when its pass began, when the pass read every row.
func (g *presenceGate) check(ctx context.Context, t scanjob.Target, tp *targetPresence, unknown []scanjob.Job, now time.Time) (int, error) {
	since := unknown[0].AcceptedAt
	for _, j := range unknown[1:] {
		if j.AcceptedAt.Before(since) {
			since = j.AcceptedAt
		}
	}
	since = since.Add(-g.cfg.Skew)
	if tp.nextOffset == 0 || since.Before(tp.passSince) {
		tp.nextOffset, tp.passSince, tp.passStart = 0, since, now
	}
	since = tp.passSince
	calls := 0
	for range g.cfg.MaxPages {
		calls++
		offset := tp.nextOffset
		rows, total, err := g.hss.listPage(ctx, t, since, offset, g.cfg.PageSize)
		if err != nil {
			g.log.Warn("presence check failed", "target", t.Key(), "waiting", len(unknown), "error", err)
			return calls, err
		}
		tp.learn(rows, g.cfg.MaxKnown)
		tp.nextOffset = offset + g.cfg.PageSize
		if len(rows) < g.cfg.PageSize || tp.nextOffset >= total {
			// The pass read every row of its window.
			tp.completeAt, tp.nextOffset = tp.passStart, 0
			break
		}
		if allKnown(tp, unknown) {
			// Nothing left to look for: the next check starts a new pass.
			tp.nextOffset = 0
			break
		}
	}
	if tp.nextOffset > 0 {
		g.log.Info("presence check stopped at its page bound; the next one goes on", "target", t.Key(),
			"next_offset", tp.nextOffset)
	}
	tp.listedAt = now
	return calls, nil
}

// allKnown says whether tp knows every job of jobs.
func allKnown(tp *targetPresence, jobs []scanjob.Job) bool {
	for _, j := range jobs {
		if !tp.knows(j) {
			return false
		}
	}
	return true
}

// maybeSync asks HSS to re-read the SWR image list of t's image type,
// unless it was asked within SyncInterval or the type has no sync.
func (g *presenceGate) maybeSync(ctx context.Context, t scanjob.Target, tp *targetPresence, now time.Time) bool {
	if t.ImageType == scanjob.InstanceImage {
		return false // RunImageSynchronize takes private_image and shared_image only
	}
	if !tp.syncedAt.IsZero() && now.Sub(tp.syncedAt) < g.cfg.SyncInterval {
		return false
	}
	// Counted as asked even when it fails: a refused sync is not asked
	// again before the interval, so it cannot eat the quota.
	tp.syncedAt = now
	err := g.hss.sync(ctx, t)
	tp.syncFailed = err != nil
	if err != nil {
		g.log.Warn("image sync failed", "target", t.Key(), "error", err)
		return false
	}
	g.log.Info("image sync requested", "target", t.Key(), "image_type", t.ImageType)
	return true
}

// deferOrGiveUp settles one item HSS does not know: given up when a check
// that started after its deadline still did not find it, else deferred
// with the backoff, never past the first check after the deadline.
func (g *presenceGate) deferOrGiveUp(out *presenceSplit, tp *targetPresence, j scanjob.Job, now time.Time, reason string, v queue.Verdict) {
	timeout := g.timeout(j.Receiver)
	deadline := j.AcceptedAt.Add(timeout)
	if !tp.completeAt.IsZero() && !tp.completeAt.Before(deadline) {
		out.GivenUp[j.ItemKey()] = queue.GiveUp{Reason: queue.ReasonNotInSWR, Verdict: v,
			Message: fmt.Sprintf("HSS did not know %s %s after it was accepted (receiver %s presence_timeout); "+
				"is it replicated into SWR as %s/%s:%s?", j.Ref(), timeout, j.Receiver, j.Namespace, j.Image, j.Tag)}
		return
	}
	delay := untilTick(now, g.backoff(now.Sub(j.AcceptedAt)))
	if left := deadline.Sub(now); delay > left {
		// The next look is the first check after the deadline.
		delay = max(left, 0) + g.cfg.ListInterval
	}
	out.Deferred[j.ItemKey()] = queue.Deferral{Delay: delay, Reason: reason}
}

// backoff is a deferred item's step for a job of this age: BackoffBase
// doubled while it stays within the age, at most BackoffCap (15s, 30s,
// 1m, ... 5m). No counter to keep: the age survives restarts and
// redeliveries.
func (g *presenceGate) backoff(age time.Duration) time.Duration {
	d := g.cfg.BackoffBase
	for d*2 <= age && d < g.cfg.BackoffCap {
		d *= 2
	}
	return min(d, g.cfg.BackoffCap)
}

// untilTick is the wait from now to the next wall-clock multiple of step,
// at least half a step. Why: every deferred item comes back on a common
// grid (a multiple of its step, which is BackoffBase times a power of
// two), so the items of a target that wait come back together and are
// looked at in one call. The permit for a call is taken before the call
// is packed (queue.Scanner.Acquire), so a call whose items are all still
// unknown spends a batch-scan permit for nothing; items returning one by
// one would spend one each.
func untilTick(now time.Time, step time.Duration) time.Duration {
	if step <= 0 {
		return 0
	}
	d := step - time.Duration(now.UnixNano()%int64(step))
	if d < step/2 {
		d += step
	}
	return d
}

func (g *presenceGate) timeout(receiver string) time.Duration {
	if d, ok := g.cfg.Timeouts[receiver]; ok && d > 0 {
		return d
	}
	return g.cfg.DefaultTimeout
}

// forget drops what the gate knows of t: a batch-scan said HSS does not
// know an image the cache held. The next check lists afresh.
func (g *presenceGate) forget(t scanjob.Target) {
	tp := g.target(t)
	tp.mu.Lock()
	defer tp.mu.Unlock()
	clear(tp.known)
	tp.listedAt, tp.completeAt = time.Time{}, time.Time{}
}

// notFound settles the items of a batch-scan answered HSS.0011: deferred
// by BackoffBase, so the next check (the cache was forgotten) lists
// afresh; given up with HSS's answer once past the deadline.
func (g *presenceGate) notFound(out *presenceSplit, t scanjob.Target, items []scanjob.Job, v queue.Verdict) {
	tp := g.target(t)
	tp.mu.Lock()
	defer tp.mu.Unlock()
	now := time.Now()
	for _, j := range items {
		if j.AcceptedAt.IsZero() {
			out.Deferred[j.ItemKey()] = queue.Deferral{Delay: g.cfg.BackoffBase, Reason: deferNotFound}
			continue
		}
		deadline := j.AcceptedAt.Add(g.timeout(j.Receiver))
		if !now.Before(deadline) {
			out.GivenUp[j.ItemKey()] = queue.GiveUp{Reason: queue.ReasonNotInSWR, Verdict: v,
				Message: fmt.Sprintf("HSS answered %s (resource not found) to a scan of %s %s after it was accepted",
					v.Code, j.Ref(), g.timeout(j.Receiver))}
			continue
		}
		out.Deferred[j.ItemKey()] = queue.Deferral{Delay: min(g.cfg.BackoffBase, deadline.Sub(now)+g.cfg.ListInterval),
			Reason: deferNotFound}
	}
}
