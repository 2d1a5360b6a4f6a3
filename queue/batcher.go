package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// batcher is the NATS-free heart of the consumer: it groups delivered jobs
// by batch key, flushes a group when it is full or its linger timer fires,
// takes a permit from the Scanner before packing ready groups of one target
// into a call (round-robin across namespaces), and settles every message
// from the call's outcome (finish.go).
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
type batcher struct {
	cfg      ConsumerConfig
	scanner  Scanner
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

	// Accepted-set lookups (admit), guarded by lookupMu.
	lookupMu       sync.Mutex
	lookupPaused   time.Time // no lookups before this, after a failure
	lookupWarned   time.Time // last warning about failed lookups
	lookupFailures int       // failures since that warning

	// Owned by run.
	callCtx      context.Context
	open         map[string]*group // BatchKey → lingering group
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

type permit struct {
	release func()
	err     error
}

type result struct {
	call *call
	err  error
}

// held is one message the batcher holds, with its decoded job.
type held struct {
	msg message
	d   delivery
	job scanjob.Job
}

// entry is one distinct item (ItemKey) and every message that asked for it.
type entry struct {
	job  scanjob.Job
	msgs []*held
}

// group gathers the items of one batch key (target + namespace) until it is
// full or its linger timer fires.
type group struct {
	key, tkey, namespace string
	target               scanjob.Target
	entries              []*entry
	index                map[string]*entry
	timer                *time.Timer
}

// call is one Scanner.Scan: items of one target, each distinct.
type call struct {
	target    scanjob.Target
	entries   []*entry
	collapsed int // messages that shared an entry when packed
}

// newBatcher makes a batcher; accepted, m and log may be nil (no accepted
// set, no metrics, no logs).
func newBatcher(cfg ConsumerConfig, s Scanner, dlq deadLetterer, accepted acceptedSet, m *Metrics, log *slog.Logger) *batcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if accepted == nil {
		accepted = noAccepted{}
	}
	return &batcher{
		cfg: cfg, scanner: s, dlq: dlq, accepted: accepted, metrics: m, log: log, rand: rand.Float64,
		in:      make(chan message),
		done:    make(chan struct{}),
		room:    make(chan struct{}, 1),
		open:    map[string]*group{},
		ready:   map[string]*targetQueue{},
		expired: make(chan *group),
		permits: make(chan permit, 1),
		results: make(chan result),
	}
}

// Accepted-set timings.
const (
	// lookupTimeout bounds the accepted-set lookup of one fetched chunk.
	lookupTimeout = 2 * time.Second
	// lookupPause is how long lookups are skipped after one failed, so an
	// unreachable bucket costs one timeout per pause, not one per chunk.
	lookupPause = 10 * time.Second
	// lookupWarnEvery rate-limits the warning about failed lookups.
	lookupWarnEvery = time.Minute
	// recordTimeout bounds recording the ids of one accepted call; the
	// call's acks wait for it (at most this long).
	recordTimeout = 5 * time.Second
)

// admit hands fetched messages to the loop (deliver), except those whose
// job HSS already accepted within the duplicate window: those are acked
// without a call. It runs in the fetch goroutine before the loop sees the
// messages, so lookups never hold up grouping, timers or sending, and the
// lookups of one chunk run in parallel. A job whose lookup failed is sent
// on: a second scan is better than a lost one.
func (b *batcher) admit(ctx context.Context, msgs []message) {
	seen := b.lookup(ctx, msgs)
	for _, m := range msgs {
		d := m.Delivery()
		if d.MsgID == "" || !seen[d.MsgID] {
			b.deliver(ctx, m)
			continue
		}
		b.metrics.acceptedBefore()
		b.log.Debug("job already accepted, acked without a call", "job_id", d.MsgID, "stream_seq", d.StreamSeq,
			"deliveries", d.NumDelivered)
		if err := m.Ack(); err != nil {
			// Redelivered after AckWait and looked up again: harmless.
			b.log.Warn("settle message", "op", "ack", "job_id", d.MsgID, "stream_seq", d.StreamSeq, "error", err)
		}
	}
}

// lookup asks the accepted set about the ids of msgs. The answer maps an
// id to true (accepted within the window) or false (not); an id it lacks
// could not be checked and counts as unchecked. After a failure, lookups
// pause for lookupPause and the jobs go on unchecked.
func (b *batcher) lookup(ctx context.Context, msgs []message) map[string]bool {
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if id := m.Delivery().MsgID; id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	now := time.Now()
	b.lookupMu.Lock()
	paused := now.Before(b.lookupPaused)
	b.lookupMu.Unlock()
	if paused {
		b.metrics.unchecked(len(ids))
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	seen, err := b.accepted.Seen(lctx, ids)
	cancel()
	if err == nil {
		return seen
	}
	unchecked := 0
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			unchecked++
		}
	}
	if ctx.Err() != nil {
		// A hard stop: deliver naks these anyway.
		b.log.Debug("accepted-set lookup canceled", "jobs", len(ids), "error", err)
		return seen
	}
	b.metrics.unchecked(unchecked)
	b.lookupMu.Lock()
	b.lookupPaused = now.Add(lookupPause)
	b.lookupFailures++
	failures, warn := b.lookupFailures, now.Sub(b.lookupWarned) >= lookupWarnEvery
	if warn {
		b.lookupWarned, b.lookupFailures = now, 0
	}
	b.lookupMu.Unlock()
	log := b.log.Debug
	if warn {
		log = b.log.Warn
	}
	log("accepted-set lookup failed, jobs sent unchecked", "unchecked", unchecked, "jobs", len(ids),
		"failures_since_last_warning", failures, "paused_for", lookupPause, "error", err)
	return seen
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

// add decodes a delivered message into its group; a message that is not a
// valid job is dead-lettered at once (never retried, never blocking).
func (b *batcher) add(m message) {
	h := &held{msg: m, d: m.Delivery()}
	if err := decodeJob(m.Data(), &h.job); err != nil {
		b.log.Warn("malformed job", "subject", h.d.Subject, "stream_seq", h.d.StreamSeq, "msg_id", h.d.MsgID, "error", err)
		b.deadLetter([]*held{h}, ReasonMalformed, Verdict{Class: Permanent}, err.Error())
		return
	}
	if b.stopping {
		b.settleWith(h, "nak", m.Nak())
		return
	}
	key := h.job.BatchKey()
	g := b.open[key]
	if g == nil {
		g = &group{key: key, tkey: h.job.Target.Key(), namespace: h.job.Namespace, target: h.job.Target,
			index: map[string]*entry{}}
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
	} else {
		e = &entry{job: h.job, msgs: []*held{h}}
		g.index[ik] = e
		g.entries = append(g.entries, e)
	}
	if len(g.entries) >= b.cfg.MaxItems {
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
// groups pile up and the next permit carries them all.
func (b *batcher) maybeAcquire(ctx context.Context) {
	if b.acquiring || b.stopping || b.acquirePause != nil || (len(b.splits) == 0 && len(b.targets) == 0) {
		return
	}
	b.acquiring = true
	go func() {
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
		err := b.send(c, p.release)
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
	c := q.pack(b.cfg.MaxItemsPerCall)
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
// ids before returning (so before finish acks them).
func (b *batcher) send(c *call, release func()) error {
	stop := b.keepAlive(c.held())
	defer stop()
	ctx, cancel := context.WithTimeout(b.callCtx, b.cfg.CallTimeout)
	err := b.scanner.Scan(ctx, c.target, c.jobs())
	cancel()
	release()
	if err == nil {
		b.record(c)
	}
	return err
}

// record remembers the ids of an accepted call's messages, collapsed ones
// included, in the accepted set. Recording before the acks means that
// neither a retry the stream no longer recognises nor a redelivery after a
// lost ack (or a crash before it) is scanned again. It has its own
// deadline, which a shutdown does not cut short (as a dead-letter write).
// A failure is logged and counted and changes nothing else: HSS accepted
// the call, so its messages are acked all the same.
func (b *batcher) record(c *call) {
	var ids []string
	have := map[string]bool{}
	for _, h := range c.held() {
		if id := h.d.MsgID; id != "" && !have[id] {
			have[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.callCtx), recordTimeout)
	defer cancel()
	if err := b.accepted.Record(ctx, ids); err != nil {
		b.metrics.recordFailed()
		b.log.Warn("record accepted jobs", "target", c.target.Key(), "jobs", len(ids), "error", err)
	}
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
}

func (g *group) held() []*held { return entriesHeld(g.entries) }
func (c *call) held() []*held  { return entriesHeld(c.entries) }

func entriesHeld(es []*entry) []*held {
	var out []*held
	for _, e := range es {
		out = append(out, e.msgs...)
	}
	return out
}

func (c *call) jobs() []scanjob.Job {
	jobs := make([]scanjob.Job, len(c.entries))
	for i, e := range c.entries {
		jobs[i] = e.job
	}
	return jobs
}

// split halves a call for bisection.
func (c *call) split() (*call, *call) {
	mid := len(c.entries) / 2
	return &call{target: c.target, entries: c.entries[:mid:mid]},
		&call{target: c.target, entries: c.entries[mid:]}
}

// targetQueue holds the ready groups of one target, per namespace in
// arrival order, and the namespaces in the order they are served.
type targetQueue struct {
	target scanjob.Target
	byNS   map[string][]*group
	order  []string // namespaces with ready groups; next to serve first
}

func (q *targetQueue) push(g *group) {
	if len(q.byNS[g.namespace]) == 0 {
		q.order = append(q.order, g.namespace)
	}
	q.byNS[g.namespace] = append(q.byNS[g.namespace], g)
}

func (q *targetQueue) empty() bool { return len(q.order) == 0 }

// pack takes ready groups into one call of at most limit distinct items:
// in rounds, one group per namespace per round, so a namespace with many
// ready groups cannot starve the others. A group that does not fit whole
// stays for the next call. Identical items of different groups collapse
// into one entry. The next call starts after the last namespace served.
func (q *targetQueue) pack(limit int) *call {
	c := &call{target: q.target}
	index := map[string]*entry{}
	msgs, last := 0, -1
	for took := true; took; {
		took = false
		for i, ns := range q.order {
			gs := q.byNS[ns]
			if len(gs) == 0 {
				continue
			}
			g := gs[0]
			added := 0
			for _, e := range g.entries {
				if index[e.job.ItemKey()] == nil {
					added++
				}
			}
			if len(c.entries)+added > limit {
				continue
			}
			q.byNS[ns] = gs[1:]
			for _, e := range g.entries {
				msgs += len(e.msgs)
				ik := e.job.ItemKey()
				if x := index[ik]; x != nil {
					x.msgs = append(x.msgs, e.msgs...)
					continue
				}
				index[ik] = e
				c.entries = append(c.entries, e)
			}
			took, last = true, i
		}
	}
	c.collapsed = msgs - len(c.entries)
	rotated := append(append([]string{}, q.order[last+1:]...), q.order[:last+1]...)
	q.order = q.order[:0]
	for _, ns := range rotated {
		if len(q.byNS[ns]) > 0 {
			q.order = append(q.order, ns)
		} else {
			delete(q.byNS, ns)
		}
	}
	return c
}
