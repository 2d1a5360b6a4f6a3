package queue

import (
	"time"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// What the batcher holds, from one message to one call: a held message
// joins an entry (one distinct item) of a group (one batch key); a flushed
// group waits in its target's queue; pack takes ready groups of one target,
// round-robin across namespaces, into a call.

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
