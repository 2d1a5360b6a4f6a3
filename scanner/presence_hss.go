package scanner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// hssPresence is the gate's view of HSS through h's catalog (hss.api):
// the list and the sync, each under its own budget of the quota
// scheduler at push priority.
type hssPresence struct{ h *HSS }

func (p hssPresence) listPage(ctx context.Context, t scanjob.Target, since time.Time, offset, limit int) ([]presenceRow, int, error) {
	page, err := p.h.catalog.List(ctx, hssTarget(t), ListQuery{ImageType: hssclient.ImageType(t.ImageType),
		UpdatedSince: since, Offset: offset, Limit: limit}, p.h.gateCall(ctx))
	if err != nil {
		return nil, 0, err
	}
	rows := make([]presenceRow, 0, len(page.Images))
	for _, im := range page.Images {
		rows = append(rows, presenceRow{Namespace: im.Namespace, Name: im.ImageName, Version: im.ImageVersion,
			Digest: im.ImageDigest, InstanceID: im.InstanceID})
	}
	return rows, page.Total, nil
}

func (p hssPresence) sync(ctx context.Context, t scanjob.Target) error {
	return p.h.catalog.Sync(ctx, hssTarget(t), hssclient.ImageType(t.ImageType), p.h.gateCall(ctx))
}

// quota is the scheduler the list and sync calls wait on: the one
// batch-scan uses when UseQuota put it there, else h's own (process-local
// limiters, one per API).
func (h *HSS) quota() *Quota {
	if ql, ok := h.limiter.(quotaLimiter); ok {
		return ql.q
	}
	return h.localQuota
}

// scanPresent is Scan with the presence gate: the items HSS knows are
// batch-scanned, the others deferred or given up (queue.Partial); a
// batch-scan answered HSS.0011 defers its items instead of failing them.
// The lifecycle records are written before it returns, so the queue acks
// only after the record of a requested scan is stored.
func (h *HSS) scanPresent(ctx context.Context, t scanjob.Target, items []scanjob.Job) error {
	split, err := h.presence.split(ctx, t, items)
	if err != nil {
		return fmt.Errorf("presence check %s: %w", t.Key(), err)
	}
	p := &queue.Partial{Deferred: split.Deferred, GivenUp: split.GivenUp}
	var requested []scanjob.Job
	var answer lifecycle.Answer
	if len(split.Known) > 0 {
		start := time.Now()
		reqID, err := h.scanVia(ctx, t, split.Known)
		v := h.Judge(err)
		answer = lifecycle.Answer{API: hssAPIName(h.catalog.ScanAPI()), Status: v.Status, Code: v.Code, Message: v.Message,
			RequestID: v.RequestID, At: time.Now().UTC()}
		switch {
		case err == nil:
			answer.Status, answer.RequestID = http.StatusOK, reqID
			requested = split.Known
			h.life.scanRequested(ctx, requested, start, answer)
		case hssclient.IsNotFound(err):
			// The gate took an image for known that HSS does not know:
			// forget the target, list afresh at the next look. Never
			// bisected, never dead-lettered for this alone.
			h.log.Info("batch scan: HSS does not know an image the list showed; checking again",
				"target", t.Key(), "items", len(split.Known), "request_id", v.RequestID)
			h.presence.forget(t)
			h.presence.notFound(&split, t, split.Known, v)
			err = nil
		}
		p.Err = err
	}
	h.life.deferred(ctx, items, split, answer)
	h.life.givenUp(ctx, items, split)
	if len(p.Deferred) == 0 && len(p.GivenUp) == 0 {
		return p.Err
	}
	return p
}

// lifeWriter writes the presence gate's transitions into the lifecycle
// store. A nil store writes nothing (no lifecycle wired: tests, bridge
// scan). A write that fails is logged and counted, not returned: the scan
// HSS accepted is not asked again for a lost record (the watcher may then
// miss it; the job's ack is what at-least-once hangs on).
type lifeWriter struct {
	store *lifecycle.Store
	pub   *lifecycle.Publisher
	h     *HSS
}

// lifeParallel bounds the record writes of one call in flight.
const lifeParallel = 16

// lifeTimeout bounds the record writes of one call.
const lifeTimeout = 10 * time.Second

// UseLifecycle makes Scan write each image's presence and scan-request
// transitions into store, and end given-up images through pub (which
// publishes their result event). Call it before the first Scan; pub may
// be nil (then given-up records are written without an event).
func (h *HSS) UseLifecycle(store *lifecycle.Store, pub *lifecycle.Publisher) {
	h.life = lifeWriter{store: store, pub: pub, h: h}
}

// each runs fn for every job, lifeParallel at a time, under one deadline.
func (w lifeWriter) each(ctx context.Context, jobs []scanjob.Job, op string, fn func(ctx context.Context, j scanjob.Job) error) {
	if w.store == nil || len(jobs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lifeTimeout)
	defer cancel()
	sem := make(chan struct{}, lifeParallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	var first error
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(ctx, j); err != nil && !errors.Is(err, errLifeSkip) {
				mu.Lock()
				failed++
				first = cmpErr(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed > 0 {
		w.h.log.Warn("lifecycle records not written", "op", op, "records", failed, "of", len(jobs), "error", first)
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// errLifeSkip: the record is in a state this step does not move (the
// watch got further meanwhile); nothing to write.
var errLifeSkip = errors.New("lifecycle step skipped")

// begin makes sure a lifecycle is under way for j: created, or restarted
// when the last one finished (a new push of a scanned tag).
func (w lifeWriter) begin(ctx context.Context, j scanjob.Job) (string, error) {
	rec, started, err := w.store.Begin(ctx, lifecycle.NewRecord(j))
	if err != nil {
		return "", err
	}
	if started {
		w.h.log.InfoContext(ctx, "image accepted", "image", j.Ref(), "job_id", j.ID())
	}
	return rec.Key, nil
}

// move begins j's lifecycle and moves it to state with fn's facts, unless
// the transition is not allowed from where the record is.
func (w lifeWriter) move(ctx context.Context, j scanjob.Job, state lifecycle.State, note string, fn func(*lifecycle.Record)) error {
	key, err := w.begin(ctx, j)
	if err != nil {
		return err
	}
	moved := false
	_, err = w.store.Update(ctx, key, func(r *lifecycle.Record) error {
		if r.State.Terminal() || !lifecycle.Allowed(r.State, state) {
			return errLifeSkip
		}
		moved = r.State != state
		r.SetState(state, note)
		fn(r)
		return nil
	})
	if err == nil && moved {
		// One line per image and state entered, as the watcher logs
		// scanning and the end: the log tells each image's way.
		w.h.log.InfoContext(ctx, "image "+string(state), "image", j.Ref(), "job_id", j.ID())
	}
	return err
}

// scanRequested records the scan HSS accepted at start (the call's start
// time: a result is accepted only when scanned after it).
func (w lifeWriter) scanRequested(ctx context.Context, jobs []scanjob.Job, start time.Time, a lifecycle.Answer) {
	w.each(ctx, jobs, "scan_requested", func(ctx context.Context, j scanjob.Job) error {
		return w.move(ctx, j, lifecycle.ScanRequested, "batch-scan accepted", func(r *lifecycle.Record) {
			r.ScanRequestedAt = start.UTC()
			r.ScanAttempts++
			r.LastAnswer = a
		})
	})
}

// deferred records the items the gate deferred: waiting_presence, or
// sync_requested when a sync is under way.
func (w lifeWriter) deferred(ctx context.Context, items []scanjob.Job, split presenceSplit, a lifecycle.Answer) {
	var jobs []scanjob.Job
	for _, j := range items {
		if _, ok := split.Deferred[j.ItemKey()]; ok {
			jobs = append(jobs, j)
		}
	}
	w.each(ctx, jobs, "deferred", func(ctx context.Context, j scanjob.Job) error {
		d := split.Deferred[j.ItemKey()]
		state, note := lifecycle.WaitingPresence, "not in HSS's image list yet"
		switch d.Reason {
		case deferSyncing:
			state, note = lifecycle.SyncRequested, "not in HSS's image list; image sync requested"
		case deferNotFound:
			note = "batch-scan answered HSS.0011; checking the list again"
		}
		return w.move(ctx, j, state, note, func(r *lifecycle.Record) {
			r.PresenceChecks++
			if state == lifecycle.SyncRequested && split.Synced {
				r.SyncRequestedAt = time.Now().UTC()
			}
			if d.Reason == deferNotFound {
				r.LastAnswer = a
			}
		})
	})
}

// givenUp ends the given-up items' lifecycles as not_in_swr (through the
// publisher when there is one, so their result event goes out).
func (w lifeWriter) givenUp(ctx context.Context, items []scanjob.Job, split presenceSplit) {
	var jobs []scanjob.Job
	for _, j := range items {
		if _, ok := split.GivenUp[j.ItemKey()]; ok {
			jobs = append(jobs, j)
		}
	}
	w.each(ctx, jobs, "given_up", func(ctx context.Context, j scanjob.Job) error {
		g := split.GivenUp[j.ItemKey()]
		key, err := w.begin(ctx, j)
		if err != nil {
			return err
		}
		end := func(r *lifecycle.Record) {
			r.SetState(lifecycle.GivenUp, g.Message)
			r.Reason = lifecycle.ReasonNotInSWR
			r.PresenceChecks++
			if g.Verdict.Code != "" {
				r.LastAnswer = lifecycle.Answer{API: hssAPIName(w.h.catalog.ScanAPI()), Status: g.Verdict.Status, Code: g.Verdict.Code,
					Message: g.Verdict.Message, RequestID: g.Verdict.RequestID, At: time.Now().UTC()}
			}
		}
		if w.pub != nil {
			_, err = w.pub.Finish(ctx, key, end)
			return err
		}
		_, err = w.store.Update(ctx, key, func(r *lifecycle.Record) error {
			if r.State.Terminal() {
				return errLifeSkip
			}
			end(r)
			return nil
		})
		return err
	})
}
