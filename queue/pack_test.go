package queue

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// queueOf builds a target queue of ready groups: per namespace, in the
// order given, groups of the given numbers of distinct images.
func queueOf(t *testing.T, spec []nsSpec) *targetQueue {
	t.Helper()
	q := newTargetQueue(targetA)
	for _, ns := range spec {
		n := 0
		for _, size := range ns.groups {
			g := &group{namespace: ns.name, tkey: targetA.Key(), target: targetA, lane: laneIndex(ns.lane)}
			for range size {
				img := fmt.Sprint(n)
				if ns.same {
					img = "0"
				}
				job := testJob(targetA, ns.name, "app", img)
				job.Lane = ns.lane
				g.entries = append(g.entries, &entry{job: job, msgs: []*held{{}}})
				n++
			}
			q.push(g)
		}
	}
	return q
}

type nsSpec struct {
	name   string
	groups []int
	same   bool // every image is the same tag
	lane   scanjob.Lane
}

// perNamespace counts the items of c per namespace.
func perNamespace(c *call) map[string]int {
	out := map[string]int{}
	for _, e := range c.entries {
		out[e.job.Namespace]++
	}
	return out
}

func TestPackFair(t *testing.T) {
	many := []nsSpec{{name: "big", groups: slices.Repeat([]int{100}, 10)}}
	for i := range 300 {
		many = append(many, nsSpec{name: fmt.Sprintf("small%03d", i), groups: []int{1}})
	}
	tests := []struct {
		name         string
		spec         []nsSpec
		limit, quant int
		want         []map[string]int // items per namespace of each call until the queue is empty
	}{
		{"one namespace alone fills the calls", []nsSpec{{name: "a", groups: []int{3, 3, 3, 1}}}, 6, 3,
			[]map[string]int{{"a": 6}, {"a": 4}}},
		{"a namespace with 10,000 waiting cannot crowd out one with 1",
			[]nsSpec{{name: "big", groups: []int{5000, 5000}}, {name: "one", groups: []int{1}}}, 1000, 100,
			[]map[string]int{{"big": 999, "one": 1}, {"big": 1000}, {"big": 1000}, {"big": 1000}, {"big": 1000},
				{"big": 1000}, {"big": 1000}, {"big": 1000}, {"big": 1000}, {"big": 1000}, {"big": 1}}},
		{"every namespace gets a turn when the call holds one of each", many, 1000, 100,
			[]map[string]int{withBig(700), {"big": 300}}},
		{"what small namespaces leave goes to the big ones, in turns",
			[]nsSpec{{name: "a", groups: []int{10}}, {name: "b", groups: []int{10}}, {name: "c", groups: []int{1}}}, 12, 10,
			// Quantum 12/3 = 4: a 4, b 4, c 1, then a's second turn fills
			// the call; the next call goes on with a's turn, then b's.
			[]map[string]int{{"a": 7, "b": 4, "c": 1}, {"a": 3, "b": 6}}},
		{"a call full mid-turn leaves the rest of the turn to the next call",
			// Quantum 5/2 = 2: a 2, b 2, a 1 of its 2; the next call
			// starts with a's last one, not a fresh quantum for a.
			[]nsSpec{{name: "a", groups: []int{5}}, {name: "b", groups: []int{5}}}, 5, 5,
			[]map[string]int{{"a": 3, "b": 2}, {"a": 2, "b": 3}}},
		{"identical items collapse and cost nothing", []nsSpec{{name: "a", groups: []int{3, 3}, same: true}, {name: "b", groups: []int{2}}}, 6, 3,
			[]map[string]int{{"a": 1, "b": 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := queueOf(t, tt.spec)
			var got []map[string]int
			for !q.empty() && len(got) <= len(tt.want) {
				c := q.packFair(tt.limit, tt.quant)
				if len(c.entries) > tt.limit {
					t.Fatalf("call %d has %d items, more than %d", len(got)+1, len(c.entries), tt.limit)
				}
				got = append(got, perNamespace(c))
			}
			if !slices.EqualFunc(got, tt.want, maps.Equal) {
				t.Errorf("calls %v,\nwant %v", got, tt.want)
			}
		})
	}
}

// withBig is one item of each of the 300 small namespaces and n of big.
func withBig(n int) map[string]int {
	m := map[string]int{"big": n}
	for i := range 300 {
		m[fmt.Sprintf("small%03d", i)] = 1
	}
	return m
}

// perLane counts the items of c per lane and namespace, as "lane/ns".
func perLane(c *call) map[string]int {
	out := map[string]int{}
	for _, e := range c.entries {
		out[laneNames[laneIndex(e.job.Lane)]+"/"+e.job.Namespace]++
	}
	return out
}

func TestPackFairLanes(t *testing.T) {
	sweep, sched, redrive := scanjob.LaneSweep, scanjob.LaneSchedule, scanjob.LaneRedrive
	tests := []struct {
		name         string
		spec         []nsSpec
		limit, quant int
		want         []map[string]int // items per lane/namespace of each call until the queue is empty
	}{
		{"a push behind a 10,000-item sweep goes in the first call",
			[]nsSpec{{name: "big", groups: []int{5000, 5000}, lane: sweep}, {name: "one", groups: []int{1}}}, 5000, 100,
			[]map[string]int{{"push/one": 1, "sweep/big": 4999}, {"sweep/big": 5000}, {"sweep/big": 1}}},
		{"pushes fill the call before any background item",
			[]nsSpec{{name: "a", groups: []int{8}}, {name: "b", groups: []int{8}, lane: sweep}}, 6, 6,
			[]map[string]int{{"push/a": 6}, {"push/a": 2, "sweep/b": 4}, {"sweep/b": 4}}},
		{"an empty lane is the push lane",
			[]nsSpec{{name: "a", groups: []int{3}, lane: sweep}, {name: "b", groups: []int{3}, lane: scanjob.LanePush}, {name: "c", groups: []int{3}}}, 6, 6,
			[]map[string]int{{"push/b": 3, "push/c": 3}, {"sweep/a": 3}}},
		{"namespaces within a background lane take turns",
			[]nsSpec{{name: "big", groups: []int{19}, lane: sweep}, {name: "one", groups: []int{1}, lane: sweep}}, 10, 10,
			[]map[string]int{{"sweep/big": 9, "sweep/one": 1}, {"sweep/big": 10}}},
		{"background lanes share the room and take turns being first",
			[]nsSpec{{name: "p", groups: []int{4}}, {name: "s", groups: []int{20}, lane: sweep},
				{name: "r", groups: []int{20}, lane: sched}, {name: "d", groups: []int{2}, lane: redrive}}, 10, 10,
			// Call 1: 4 pushes, 6 left: 2 each (sweep first). Call 2:
			// 10 left, schedule first: 3 each, redrive has 0, so 5 + 5.
			[]map[string]int{{"push/p": 4, "sweep/s": 2, "schedule/r": 2, "redrive/d": 2},
				{"schedule/r": 5, "sweep/s": 5}, {"sweep/s": 5, "schedule/r": 5}, {"sweep/s": 5, "schedule/r": 5}, {"sweep/s": 3, "schedule/r": 3}}},
		{"a redrive of a few is not held back by a big rescan",
			[]nsSpec{{name: "all", groups: []int{3000}, lane: sched}, {name: "x", groups: []int{5}, lane: redrive}}, 1000, 100,
			[]map[string]int{{"schedule/all": 995, "redrive/x": 5}, {"schedule/all": 1000}, {"schedule/all": 1000}, {"schedule/all": 5}}},
		{"an image waiting as push and as sweep is one item",
			[]nsSpec{{name: "a", groups: []int{2}}, {name: "a", groups: []int{2}, lane: sweep}}, 10, 10,
			[]map[string]int{{"push/a": 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := queueOf(t, tt.spec)
			var got []map[string]int
			for !q.empty() && len(got) <= len(tt.want) {
				c := q.packFair(tt.limit, tt.quant)
				if len(c.entries) > tt.limit {
					t.Fatalf("call %d has %d items, more than %d", len(got)+1, len(c.entries), tt.limit)
				}
				got = append(got, perLane(c))
			}
			if !slices.EqualFunc(got, tt.want, maps.Equal) {
				t.Errorf("calls %v,\nwant %v", got, tt.want)
			}
		})
	}
}
