package queue

import (
	"time"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// What the batcher holds, from one message to one call: a held message
// joins an entry (one distinct item) of a group (one batch key); a flushed
// group waits in its target's queue; a permit packs one target's queue
// into a call. With PackReady, pack takes ready groups whole, round-robin
// across namespaces. With PackQuota, the target's lingering groups are
// flushed into the queue first and packFair takes items, by deficit round
// robin across namespaces, splitting a group where the call is full.

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

// targetQueue holds the ready groups of one target, per namespace in
// arrival order, and the namespaces in the order they are served.
type targetQueue struct {
	target scanjob.Target
	byNS   map[string][]*group
	order  []string // namespaces with ready groups; next to serve first

	// Deficit round robin (packFair): what each namespace of order may
	// still take in its current turn, and whether order[0]'s turn began
	// in an earlier call (a call that filled up mid-turn).
	deficit map[string]int
	inTurn  bool
}

// push queues a flushed group behind the earlier ones of its namespace.
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
				c.add(index, e)
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

// packFair takes items of q into one call of at most limit distinct items,
// by deficit round robin on items (M. Shreedhar and G. Varghese,
// "Efficient fair queuing using deficit round robin", SIGCOMM 1995,
// https://doi.org/10.1145/217382.217453): namespaces take turns in
// q.order; each turn adds the quantum to the namespace's deficit, and it
// takes items oldest first while its deficit lasts. A namespace that runs
// out of items leaves the round and forgets its deficit; one whose
// deficit runs out goes to the back. A call that fills up mid-turn leaves
// the rest of that turn to the next call, so the rotation goes on across
// calls and one namespace with 10,000 items waiting takes a quantum per
// round like one with a single item.
//
// The quantum is limit divided among the namespaces waiting, at least 1
// and at most maxQuantum (MaxItems): when more namespaces wait than a
// call has quanta of MaxItems, a round with a fixed quantum of MaxItems
// would fill the call with the first few big namespaces and leave small
// ones for the next permit, the very wait this packing removes; with the
// call shared out, every namespace gets a turn in every call that can hold
// one item of each, and what the small ones leave goes to the big ones in
// further rounds. When few namespaces wait, a quantum of MaxItems keeps a
// namespace's items together. Identical items collapse into one entry and
// cost nothing.
func (q *targetQueue) packFair(limit, maxQuantum int) *call {
	c := &call{target: q.target}
	if len(q.order) == 0 {
		return c
	}
	if q.deficit == nil {
		q.deficit = map[string]int{}
	}
	quantum := max(1, min(maxQuantum, limit/len(q.order)))
	index := map[string]*entry{}
	msgs := 0
	for len(c.entries) < limit && len(q.order) > 0 {
		ns := q.order[0]
		if !q.inTurn {
			q.deficit[ns] += quantum
			q.inTurn = true
		}
		gs := q.byNS[ns]
		for len(gs) > 0 && q.deficit[ns] > 0 && len(c.entries) < limit {
			g := gs[0]
			e := g.entries[0]
			if g.entries = g.entries[1:]; len(g.entries) == 0 {
				gs = gs[1:]
			}
			msgs += len(e.msgs)
			if !c.add(index, e) {
				continue
			}
			q.deficit[ns]--
		}
		q.byNS[ns] = gs
		switch {
		case len(gs) == 0:
			delete(q.byNS, ns)
			delete(q.deficit, ns)
			q.order, q.inTurn = q.order[1:], false
		case q.deficit[ns] > 0:
			// The call is full; this turn goes on in the next one.
		default:
			q.order, q.inTurn = append(q.order[1:], ns), false
		}
	}
	c.collapsed = msgs - len(c.entries)
	return c
}

// items is the number of entries waiting in q (an item waiting in two
// groups of one namespace counts twice).
func (q *targetQueue) items() int {
	n := 0
	for _, gs := range q.byNS {
		for _, g := range gs {
			n += len(g.entries)
		}
	}
	return n
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
