package queue

import (
	"time"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// What the batcher holds, from one message to one call: a held message
// joins an entry (one distinct item) of a group (one batch key); a flushed
// group waits in its target's queue; a permit packs one target's queue
// into a call. A group holds jobs of one lane, and the target's queue
// keeps each lane apart: the push lane fills a call first, the background
// lanes the rest. With PackReady, pack takes ready groups whole,
// round-robin across namespaces. With PackQuota, the target's lingering
// groups are flushed into the queue first and packFair takes items, by
// deficit round robin across namespaces, splitting a group where the call
// is full.

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
	lane                 int // laneIndex of its jobs' lane
	timer                *time.Timer
	seq                  uint64 // creation order, to flush lingering groups oldest first
}

// call is one Scanner.Scan: items of one target, each distinct.
type call struct {
	target    scanjob.Target
	entries   []*entry
	collapsed int // messages that shared an entry when packed
}

// held lists the messages of a group or a call, for heartbeats and
// settling.
func (g *group) held() []*held { return entriesHeld(g.entries) }
func (c *call) held() []*held  { return entriesHeld(c.entries) }

func entriesHeld(es []*entry) []*held {
	var out []*held
	for _, e := range es {
		out = append(out, e.msgs...)
	}
	return out
}

// jobs are the items of a call, as Scanner.Scan takes them.
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

// Lanes (scanjob.Lane): the push lane and the background lanes, by index
// into targetQueue.lanes. Background lanes fill only what the push lane
// leaves of a call (packFair).
const (
	lanePush = iota
	laneSweep
	laneSchedule
	laneRedrive
	numLanes
)

// laneIndex is the index of a job's lane; an empty or unknown lane is the
// push lane (Validate refuses unknown ones before they get here).
func laneIndex(l scanjob.Lane) int {
	switch l {
	case scanjob.LaneSweep:
		return laneSweep
	case scanjob.LaneSchedule:
		return laneSchedule
	case scanjob.LaneRedrive:
		return laneRedrive
	}
	return lanePush
}

// laneNames are the lanes' names, for logs and tests.
var laneNames = [numLanes]string{"push", "sweep", "schedule", "redrive"}

// targetQueue holds the ready groups of one target, per lane.
type targetQueue struct {
	target scanjob.Target
	lanes  [numLanes]laneQueue
	// nextBg is the background lane that fills first in the next call:
	// the background lanes take turns being first (packFair).
	nextBg int
}

// laneQueue holds the ready groups of one lane of a target, per namespace
// in arrival order, and the namespaces in the order they are served.
type laneQueue struct {
	byNS  map[string][]*group
	order []string // namespaces with ready groups; next to serve first

	// Deficit round robin (drr): what each namespace of order may still
	// take in its current turn, and whether order[0]'s turn began in an
	// earlier call (a call that filled up mid-turn).
	deficit map[string]int
	inTurn  bool
}

func newTargetQueue(t scanjob.Target) *targetQueue {
	q := &targetQueue{target: t}
	for i := range q.lanes {
		q.lanes[i].byNS = map[string][]*group{}
	}
	return q
}

// push queues a flushed group behind the earlier ones of its namespace, in
// its lane.
func (q *targetQueue) push(g *group) {
	l := &q.lanes[g.lane]
	if len(l.byNS[g.namespace]) == 0 {
		l.order = append(l.order, g.namespace)
	}
	l.byNS[g.namespace] = append(l.byNS[g.namespace], g)
}

func (q *targetQueue) empty() bool {
	for i := range q.lanes {
		if len(q.lanes[i].order) > 0 {
			return false
		}
	}
	return true
}

// groups calls f with every group q holds.
func (q *targetQueue) groups(f func(*group)) {
	for i := range q.lanes {
		for _, gs := range q.lanes[i].byNS {
			for _, g := range gs {
				f(g)
			}
		}
	}
}

// pack takes ready groups into one call of at most limit distinct items:
// the push lane's first, then each background lane's in what is left. In a
// lane, in rounds, one group per namespace per round, so a namespace with
// many ready groups cannot starve the others. A group that does not fit
// whole stays for the next call. Identical items of different groups
// collapse into one entry. The next call starts after the last namespace
// served.
func (q *targetQueue) pack(limit int) *call {
	c := &call{target: q.target}
	index := map[string]*entry{}
	msgs := 0
	for i := range q.lanes {
		msgs += q.lanes[i].pack(c, index, limit)
	}
	c.collapsed = msgs - len(c.entries)
	return c
}

func (l *laneQueue) pack(c *call, index map[string]*entry, limit int) (msgs int) {
	last := -1
	for took := true; took; {
		took = false
		for i, ns := range l.order {
			gs := l.byNS[ns]
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
			l.byNS[ns] = gs[1:]
			for _, e := range g.entries {
				msgs += len(e.msgs)
				c.add(index, e)
			}
			took, last = true, i
		}
	}
	rotated := append(append([]string{}, l.order[last+1:]...), l.order[:last+1]...)
	l.order = l.order[:0]
	for _, ns := range rotated {
		if len(l.byNS[ns]) > 0 {
			l.order = append(l.order, ns)
		} else {
			delete(l.byNS, ns)
		}
	}
	return msgs
}

// packFair takes items of q into one call of at most limit distinct items:
// first the push lane's, by deficit round robin across its namespaces;
// then, in the room the pushes leave, the background lanes' (sweep,
// schedule, redrive), each by deficit round robin across its own
// namespaces. So a background item never takes a place a waiting push
// could have had, and a push waits for at most the permit in flight
// however many background items wait; when no push waits, background
// items fill the whole call.
//
// The background lanes share the room left in turns, not in a fixed
// order: it is divided equally among the lanes with items waiting, the
// first of them changing each call, and what one lane cannot use goes to
// the others. A fixed order would let a nightly rescan of 30,000 images
// hold back an operator's redrive of five for its whole six minutes: the
// starvation namespaces are protected from, one level up. Each lane keeps
// its own round robin state, so a namespace's turn in one lane is not
// spent by its items in another.
func (q *targetQueue) packFair(limit, maxQuantum int) *call {
	c := &call{target: q.target}
	index := map[string]*entry{}
	msgs := q.lanes[lanePush].drr(c, index, limit, maxQuantum)
	for len(c.entries) < limit {
		var waiting []int
		for i := range numLanes - 1 {
			l := laneSweep + (q.nextBg+i)%(numLanes-1)
			if len(q.lanes[l].order) > 0 {
				waiting = append(waiting, l)
			}
		}
		if len(waiting) == 0 {
			break
		}
		share := max(1, (limit-len(c.entries))/len(waiting))
		for _, l := range waiting {
			msgs += q.lanes[l].drr(c, index, min(limit, len(c.entries)+share), maxQuantum)
		}
	}
	q.nextBg = (q.nextBg + 1) % (numLanes - 1)
	c.collapsed = msgs - len(c.entries)
	return c
}

// drr adds items of l to c until c holds limit distinct items or l is
// empty, by deficit round robin on items (M. Shreedhar and G. Varghese,
// "Efficient fair queuing using deficit round robin", SIGCOMM 1995,
// https://doi.org/10.1145/217382.217453): namespaces take turns in
// l.order; each turn adds the quantum to the namespace's deficit, and it
// takes items oldest first while its deficit lasts. A namespace that runs
// out of items leaves the round and forgets its deficit; one whose
// deficit runs out goes to the back. A call that fills up mid-turn leaves
// the rest of that turn to the next call, so the rotation goes on across
// calls and one namespace with 10,000 items waiting takes a quantum per
// round like one with a single item. It returns the messages it took.
//
// The quantum is the room (limit less what c holds) divided among the
// namespaces waiting, at least 1 and at most maxQuantum (MaxItems): when
// more namespaces wait than a call has quanta of MaxItems, a round with a
// fixed quantum of MaxItems would fill the call with the first few big
// namespaces and leave small ones for the next permit, the very wait this
// packing removes; with the call shared out, every namespace gets a turn
// in every call that can hold one item of each, and what the small ones
// leave goes to the big ones in further rounds. When few namespaces wait,
// a quantum of MaxItems keeps a namespace's items together. Identical
// items collapse into one entry and cost nothing.
func (l *laneQueue) drr(c *call, index map[string]*entry, limit, maxQuantum int) (msgs int) {
	if len(l.order) == 0 || len(c.entries) >= limit {
		return 0
	}
	if l.deficit == nil {
		l.deficit = map[string]int{}
	}
	quantum := max(1, min(maxQuantum, (limit-len(c.entries))/len(l.order)))
	for len(c.entries) < limit && len(l.order) > 0 {
		ns := l.order[0]
		if !l.inTurn {
			l.deficit[ns] += quantum
			l.inTurn = true
		}
		gs := l.byNS[ns]
		for len(gs) > 0 && l.deficit[ns] > 0 && len(c.entries) < limit {
			g := gs[0]
			e := g.entries[0]
			if g.entries = g.entries[1:]; len(g.entries) == 0 {
				gs = gs[1:]
			}
			msgs += len(e.msgs)
			if !c.add(index, e) {
				continue
			}
			l.deficit[ns]--
		}
		l.byNS[ns] = gs
		switch {
		case len(gs) == 0:
			delete(l.byNS, ns)
			delete(l.deficit, ns)
			l.order, l.inTurn = l.order[1:], false
		case l.deficit[ns] > 0:
			// The call is full; this turn goes on in the next one.
		default:
			l.order, l.inTurn = append(l.order[1:], ns), false
		}
	}
	return msgs
}

// items is the number of entries waiting in q (an item waiting in two
// groups of one namespace counts twice), and of them in the push lane.
func (q *targetQueue) items() (all, push int) {
	for i := range q.lanes {
		for _, gs := range q.lanes[i].byNS {
			for _, g := range gs {
				all += len(g.entries)
				if i == lanePush {
					push += len(g.entries)
				}
			}
		}
	}
	return all, push
}

// add puts e into the call, or, when an identical item (same ItemKey) is
// there already, its messages onto that item, so HSS gets each image once.
// It reports whether e became an item of its own.
func (c *call) add(index map[string]*entry, e *entry) bool {
	ik := e.job.ItemKey()
	if x := index[ik]; x != nil {
		x.msgs = append(x.msgs, e.msgs...)
		return false
	}
	index[ik] = e
	c.entries = append(c.entries, e)
	return true
}
