package handlers

import (
	"cmp"
	"path"
	"slices"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// Targets are the HSS targets the jobs of this configuration can name:
// each receiver's target, and each routing rule's target rewrite applied
// over it, field by field as route does (the first matching rule decides a
// job, so one rule at a time). The list is sorted and without duplicates;
// it is at most receivers × (rules + 1) long.
//
// Why: the consumer signs and sends whatever job it reads from the stream
// to the project the job names. Given this list (queue.Targets) it sends
// only jobs a receiver could have stored, so a job put on the stream by
// anything else cannot pick the project the bridge's HSS credentials scan
// in.
//
// Receivers' targets must already be complete (cmd/bridge fills their
// empty fields from the hss defaults, as it does for New). A drop rule
// adds nothing, nor does a rule whose match.receiver cannot match the
// receiver's name; other conditions (host, namespace, repository) depend
// on the push, so the rule counts for every push.
func (c Config) Targets() []scanjob.Target {
	seen := map[scanjob.Target]bool{}
	var out []scanjob.Target
	add := func(t scanjob.Target) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, r := range c.Receivers {
		add(r.Target)
		for _, ru := range c.Routes {
			if ru.Action == ActionDrop {
				continue
			}
			// A glob that does not parse is refused by New; here it
			// counts as matching, so that the list errs on the side of
			// a job the bridge could make.
			if m := ru.Match.Receiver; m != "" {
				if ok, err := path.Match(m, r.Name); err == nil && !ok {
					continue
				}
			}
			add(rewriteTarget(r.Target, ru.Target))
		}
	}
	slices.SortFunc(out, func(a, b scanjob.Target) int { return cmp.Compare(a.Key(), b.Key()) })
	return out
}

// rewriteTarget is t with the fields over sets replaced, as a routing
// rule's target rewrites a job's (route.go).
func rewriteTarget(t, over scanjob.Target) scanjob.Target {
	t.Region = cmp.Or(over.Region, t.Region)
	t.ProjectID = cmp.Or(over.ProjectID, t.ProjectID)
	t.EnterpriseProjectID = cmp.Or(over.EnterpriseProjectID, t.EnterpriseProjectID)
	t.ImageType = cmp.Or(over.ImageType, t.ImageType)
	return t
}
