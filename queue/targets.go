package queue

import (
	"slices"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// Targets is the allow-list of HSS targets (region, project,
// enterprise project, image type) the consumer sends jobs to. The zero
// value allows nothing.
//
// Why: the consumer signs every job it reads with the bridge's HSS
// credentials and sends it to the project the job names. A job on the
// stream that did not come through a receiver (a client that can publish
// on the job subjects, a forged message) could otherwise name any project
// those credentials reach. The bridge's own jobs can only name the targets
// its receivers and routing rules produce, so those are the list; a job
// naming any other is dead-lettered (ReasonUnknownTarget) before it is
// grouped, and never reaches Scanner.Scan.
type Targets struct {
	// set is keyed by the Target itself, not Target.Key: a field holding
	// Key's separator must not make a forged target equal an allowed one.
	set map[scanjob.Target]struct{}
}

// AllowTargets is the allow-list of ts (duplicates are one).
func AllowTargets(ts ...scanjob.Target) Targets {
	a := Targets{set: make(map[scanjob.Target]struct{}, len(ts))}
	for _, t := range ts {
		a.set[t] = struct{}{}
	}
	return a
}

// Allows reports whether t is on the list, field by field exactly.
func (a Targets) Allows(t scanjob.Target) bool {
	_, ok := a.set[t]
	return ok
}

// Len is the number of targets on the list.
func (a Targets) Len() int { return len(a.set) }

// Keys are the targets' keys, sorted, for logs.
func (a Targets) Keys() []string {
	out := make([]string, 0, len(a.set))
	for t := range a.set {
		out = append(out, t.Key())
	}
	slices.Sort(out)
	return out
}
