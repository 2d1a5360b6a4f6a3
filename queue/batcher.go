package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// batcher is the NATS-free heart of the consumer: it groups delivered jobs
// by batch key, flushes a group when it is full or its linger timer fires,
// takes a permit from the Scanner when a target has a flushed group, packs
// a call for the permit (pack.go: with PackQuota everything waiting for
// the target, lingering groups included, by deficit round robin across
// namespaces; with PackReady the flushed groups, round-robin), and settles
// every message from the call's outcome (finish.go).
//
// Its shape is Alertmanager v0.25.0 dispatch/dispatch.go: one goroutine
// (run) owns all state and sits in one select; each group owns its timer.
// Differences: a group flushes once and is replaced by a new one (a batch is
// a call, not a notification interval), and pending messages are nakked on
// shutdown instead of dropped, because nobody resends them.
//
// Ownership keeps the message operations single-threaded: a held message
// belongs to the run loop while it is grouped, ready or waiting as a
// bisected half; to one sender goroutine while its call is in flight; to one
// dead-letter goroutine while its record is written. Each owner sends the
// InProgress heartbeats of what it holds.
//
// Before the loop sees a fetched message, admit looks its id up in the
// accepted set and acks it without a call if HSS already accepted it; after
// HSS accepts a call, its sender records the ids before the loop acks them
// (accepted.go says why).
//
// Files: this one is the loop and what it does in its own goroutine
// (intake, grouping, permits, sending, heartbeats, stop); pack.go holds the
// groups, calls and per-target queues and packs a call; finish.go settles a
// call's messages from its outcome; accepted.go holds admit and record.
type batcher struct {
	cfg      ConsumerConfig
	scanner  Scanner
	allowed  Targets
	dlq      deadLetterer
	accepted acceptedSet
	metrics  *Metrics
	log      *slog.Logger
	rand     func() float64 // jitter source in [0, 1)

	in    chan message  // deliver → run; closed by closeInput
	done  chan struct{} // closed when run returned
	held  atomic.Int64  // messages delivered and not yet settled
	room  chan struct{} // signalled (cap 1) when held drops
	bg    sync.WaitGroup
	close sync.Once

	// Accepted-set lookups (admit, accepted.go), guarded by lookupMu.
	lookupMu       sync.Mutex
	lookupPaused   time.Time // no lookups before this, after a failure
	lookupWarned   time.Time // last warning about failed lookups
	lookupFailures int       // failures since that warning

	// Owned by run.
	callCtx      context.Context
	open         map[string]*group // BatchKey → lingering group
	groups       uint64            // groups made so far (group.seq)
	waiting      map[string]int    // PackQuota: target key → entries in its open and ready groups
	ready        map[string]*targetQueue
	targets      []string // target keys with ready groups, next to serve first
	splits       []*call  // bisected halves, served before new packs
	expired      chan *group
	permits      chan permit
	results      chan result
	acquiring    bool
	acquirePause <-chan time.Time
	inflight     int
	stopping     bool
}

// deadLetterer stores dead-letter records; *Queue is the real one.
type deadLetterer interface {
	// deadLetter returns once rec is stored (PubAck) or could not be.
	deadLetter(ctx context.Context, rec DeadLetter) error
}

// permit is Scanner.Acquire's answer, sent back to the loop.
type permit struct {
	release func()
	token   Permit // from a PermitScanner, for Scan's ctx; else nil
	err     error
}

// result is a sent call's outcome, sent back to the loop for finish.
type result struct {
	call *call
	err  error
}

// newBatcher makes a batcher that sends jobs of the allowed targets to s;
// accepted, m and log may be nil (no accepted set, no metrics, no logs).
func newBatcher(cfg ConsumerConfig, s Scanner, allowed Targets, dlq deadLetterer, accepted acceptedSet, m *Metrics, log *slog.Logger) *batcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if accepted == nil {
		accepted = noAccepted{}
	}
	return &batcher{
		cfg: cfg, scanner: s, allowed: allowed, dlq: dlq, accepted: accepted, metrics: m, log: log, rand: rand.Float64,
		in:      make(chan message),
		done:    make(chan struct{}),
		room:    make(chan struct{}, 1),
		open:    map[string]*group{},
		waiting: map[string]int{},
		ready:   map[string]*targetQueue{},
		expired: make(chan *group),
		permits: make(chan permit, 1),
		results: make(chan result),
	}
}

// deliver hands one message to the batcher, counting it as held. If the
// batcher has stopped (or ctx is done), the message is nakked at once so
// another replica can take it, and deliver reports false.
func (b *batcher) deliver(ctx context.Context, m message) bool {
	b.hold(1)
	select {
	case b.in <- m:
		return true
	case <-b.done:
	case <-ctx.Done():
	}
	b.settleWith(&held{msg: m, d: m.Delivery()}, "nak", m.Nak())
	return false
}

// closeInput tells the batcher no more messages come: it naks what it has
// not sent, lets calls in flight finish and returns from run.
func (b *batcher) closeInput() { b.close.Do(func() { close(b.in) }) }

// free is how many more messages this replica may take.
func (b *batcher) free() int { return b.cfg.MaxHeld - int(b.held.Load()) }

func (b *batcher) hold(n int) { b.metrics.setHeld(b.held.Add(int64(n))) }

func (b *batcher) settle(n int) {
	b.metrics.setHeld(b.held.Add(-int64(n)))
	select {
	case b.room <- struct{}{}:
	default:
	}
}

// run is the loop. It returns when the input is closed (graceful: unsent
// messages are nakked, calls in flight finish) or ctx is done (hard: calls
// in flight are cancelled and their messages nakked), and every message it
// held is settled.
func (b *batcher) run(ctx context.Context) {
	defer close(b.done)
	defer b.bg.Wait()
	b.callCtx = ctx
	acquireCtx, stopAcquiring := context.WithCancel(ctx)
	defer stopAcquiring()
	heartbeat := time.NewTicker(b.cfg.Heartbeat)
	defer heartbeat.Stop()

	in, ctxDone := b.in, ctx.Done()
	for {
		select {
		case m, ok := <-in:
			if !ok {
				in = nil
				b.stop(stopAcquiring)
				break
			}
			b.add(m)
		case g := <-b.expired:
			if b.open[g.key] == g {
				b.flush(g)
			}
		case p := <-b.permits:
			b.granted(p)
		case r := <-b.results:
			b.finish(r.call, r.err)
		case <-heartbeat.C:
			b.heartbeat()
		case <-b.acquirePause:
			b.acquirePause = nil
		case <-ctxDone:
			ctxDone = nil
			b.stop(stopAcquiring)
		}
		if b.stopping && (in == nil || ctx.Err() != nil) && b.inflight == 0 && !b.acquiring {
			return
		}
		b.maybeAcquire(acquireCtx)
	}
}

// add decodes a delivered message into its group. A message that is not a
// valid job, or whose job names a target that is not allowed, is
// dead-lettered at once (never retried, never blocking, never sent).
func (b *batcher) add(m message) {
	h := &held{msg: m, d: m.Delivery()}
	if err := decodeJob(m.Data(), &h.job); err != nil {
		b.log.Warn("malformed job", "subject", h.d.Subject, "stream_seq", h.d.StreamSeq, "msg_id", h.d.MsgID, "error", err)
		b.deadLetter([]*held{h}, ReasonMalformed, Verdict{Class: Permanent}, err.Error())
		return
	}
	if t := h.job.Target; !b.allowed.Allows(t) {
		// Not a job this bridge made: none of its receivers and routes
		// produces this target. Sending it would spend the bridge's HSS
		// credentials on a project someone else chose.
		b.log.Warn("job for an unknown target", "job_id", h.d.MsgID, "subject", h.d.Subject, "stream_seq", h.d.StreamSeq,
			"target", t.Key(), "receiver", h.job.Receiver)
		b.deadLetter([]*held{h}, ReasonUnknownTarget, Verdict{Class: Permanent},
			fmt.Sprintf("target %s is not one this bridge's receivers and routes produce", t.Key()))
		return
	}
	if b.stopping {
		b.settleWith(h, "nak", m.Nak())
		return
	}
	key := h.job.BatchKey()
	g := b.open[key]
	if g == nil {
		b.groups++
		g = &group{key: key, tkey: h.job.Target.Key(), namespace: h.job.Namespace, target: h.job.Target,
			index: map[string]*entry{}, seq: b.groups}
		b.open[key] = g
		// Alertmanager inserts the first item before the group's timer
		// starts; here the timer only reports back to the loop.
		g.timer = time.AfterFunc(b.cfg.Linger, func() {
			select {
			case b.expired <- g:
			case <-b.done:
			}
		})
	}
	ik := h.job.ItemKey()
	if e := g.index[ik]; e != nil {
		e.msgs = append(e.msgs, h)
		return
	}
	e := &entry{job: h.job, msgs: []*held{h}}
	g.index[ik] = e
	g.entries = append(g.entries, e)
	if b.cfg.Packing == PackReady {
		if len(g.entries) >= b.cfg.MaxItems {
			b.flush(g)
		}
		return
	}
	// PackQuota: a target asks for a permit when its first item has
	// lingered (the first group's timer) or when a call's worth waits,
	// since lingering longer cannot make the call fuller. Not when one
	// namespace's group is full: a free permit would then carry that group
	// and whatever else happened to be there, and a burst would need one
	// call more than it fills. Flushing one group is enough to ask; the
	// permit takes the others (next).
	b.waiting[g.tkey]++
	if b.waiting[g.tkey] >= b.cfg.MaxItemsPerCall && b.ready[g.tkey] == nil {
		b.flush(g)
	}
}

func decodeJob(data []byte, job *scanjob.Job) error {
	if err := json.Unmarshal(data, job); err != nil {
		return fmt.Errorf("decode job: %w", err)
	}
	if err := job.Validate(); err != nil {
		return fmt.Errorf("validate job %s: %w", job.ID(), err)
	}
	return nil
}

// flushTarget flushes every lingering group of one target, oldest first.
func (b *batcher) flushTarget(tkey string) {
	var gs []*group
	for _, g := range b.open {
		if g.tkey == tkey {
			gs = append(gs, g)
		}
	}
	slices.SortFunc(gs, func(x, y *group) int { return cmp.Compare(x.seq, y.seq) })
	for _, g := range gs {
		b.flush(g)
	}
}

// flush moves a group from lingering to ready.
func (b *batcher) flush(g *group) {
	g.timer.Stop()
	delete(b.open, g.key)
	q := b.ready[g.tkey]
	if q == nil {
		q = &targetQueue{target: g.target, byNS: map[string][]*group{}}
		b.ready[g.tkey] = q
		b.targets = append(b.targets, g.tkey)
	}
	q.push(g)
}

// maybeAcquire asks for a permit when there is something to send and no
// request is out. One request at a time: while permits are scarce, ready
// groups pile up and the next permit carries them all (with PackQuota,
// and the lingering ones too). A target asks only once it has a flushed
// group, never for a lingering one alone: a permit is used when it is
// granted (holding one would let the next call follow it closer than the
// rate allows), so asking at a target's first item would send that item
// alone whenever permits are free.
func (b *batcher) maybeAcquire(ctx context.Context) {
	if b.acquiring || b.stopping || b.acquirePause != nil || (len(b.splits) == 0 && len(b.targets) == 0) {
		return
	}
	b.acquiring = true
	go func() {
		if ps, ok := b.scanner.(PermitScanner); ok {
			p, err := ps.AcquirePermit(ctx)
			if err != nil {
				b.permits <- permit{err: err}
				return
			}
			b.permits <- permit{release: p.Release, token: p}
			return
		}
		release, err := b.scanner.Acquire(ctx)
		b.permits <- permit{release: release, err: err}
	}()
}

// granted packs a call for a fresh permit and starts it.
func (b *batcher) granted(p permit) {
	b.acquiring = false
	if p.err != nil {
		if !b.stopping {
			// Scanner.Acquire fails only when its ctx is done; anything else
			// is a bug there. Do not spin on it.
			b.log.Error("acquire permit", "error", p.err)
			b.acquirePause = time.After(b.cfg.BackoffBase)
		}
		return
	}
	c := b.next()
	if c == nil {
		p.release()
		return
	}
	b.inflight++
	b.metrics.packed(len(c.entries), c.collapsed)
	go func() {
		err := b.send(c, p)
		b.results <- result{call: c, err: err}
	}()
}

// next is the call to send: a bisected half first (it was admitted
// earlier), else ready groups of the next target in turn.
func (b *batcher) next() *call {
	if len(b.splits) > 0 {
		c := b.splits[0]
		b.splits = b.splits[1:]
		return c
	}
	if len(b.targets) == 0 {
		return nil
	}
	tkey := b.targets[0]
	q := b.ready[tkey]
	var c *call
	if b.cfg.Packing == PackQuota {
		// The permit carries what waits for its target, lingering or not;
		// whatever does not fit stays ready, so the next permit is asked
		// for at once.
		b.flushTarget(tkey)
		c = q.packFair(b.cfg.MaxItemsPerCall, b.cfg.MaxItems)
		if n := q.items(); n > 0 {
			b.waiting[tkey] = n
		} else {
			delete(b.waiting, tkey)
		}
	} else {
		c = q.pack(b.cfg.MaxItemsPerCall)
	}
	b.targets = b.targets[1:]
	if q.empty() {
		delete(b.ready, tkey)
	} else {
		b.targets = append(b.targets, tkey)
	}
	return c
}

// send runs one Scan under its own deadline, keeping its messages alive,
// releases the permit once HSS answered, and records an accepted call's
// ids before returning (so before finish acks them): all of them, or for
// a Partial whose Err is nil, those of the items that remained.
func (b *batcher) send(c *call, p permit) error {
	stop := b.keepAlive(c.held())
	defer stop()
	ctx, cancel := context.WithTimeout(traceCall(b.callCtx, c), b.cfg.CallTimeout)
	if p.token != nil {
		ctx = WithPermit(ctx, p.token)
	}
	err := b.scanner.Scan(ctx, c.target, c.jobs())
	cancel()
	p.release()
	if err == nil {
		b.record(c)
	} else if p, ok := errors.AsType[*Partial](err); ok && p.Err == nil {
		// Only what HSS took is accepted: a deferred item recorded here
		// would be acked without a scan when it comes back.
		rest, _, _ := partition(c, p)
		b.record(rest)
	}
	return err
}

// keepAlive sends InProgress for msgs every Heartbeat until stop is called;
// stop returns once the last InProgress was sent, so the caller owns the
// messages again.
func (b *batcher) keepAlive(msgs []*held) (stop func()) {
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(b.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				b.progress(msgs)
			}
		}
	}()
	return func() { close(quit); <-exited }
}

func (b *batcher) progress(msgs []*held) {
	for _, h := range msgs {
		if err := h.msg.InProgress(); err != nil {
			b.log.Debug("in progress", "job_id", h.d.MsgID, "stream_seq", h.d.StreamSeq, "error", err)
		}
	}
}

// heartbeat keeps alive everything the loop holds.
func (b *batcher) heartbeat() {
	b.eachHeld(b.progress)
}

func (b *batcher) eachHeld(f func([]*held)) {
	for _, g := range b.open {
		f(g.held())
	}
	for _, q := range b.ready {
		for _, gs := range q.byNS {
			for _, g := range gs {
				f(g.held())
			}
		}
	}
	for _, c := range b.splits {
		f(c.held())
	}
}

// stop begins shutdown: no new permits, and everything not yet sent is
// nakked without delay so another replica takes it at once.
func (b *batcher) stop(stopAcquiring context.CancelFunc) {
	if !b.stopping {
		b.log.Info("consumer stopping", "in_flight_calls", b.inflight, "held", b.held.Load())
	}
	b.stopping = true
	stopAcquiring()
	for _, g := range b.open {
		g.timer.Stop()
	}
	b.eachHeld(func(hs []*held) {
		for _, h := range hs {
			b.settleWith(h, "nak", h.msg.Nak())
		}
	})
	b.open, b.ready, b.targets, b.splits = map[string]*group{}, map[string]*targetQueue{}, nil, nil
	b.waiting = map[string]int{}
}
