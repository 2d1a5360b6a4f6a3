package sources

import (
	"fmt"
	"testing"
)

// TestARoundCostsAHeadPerTag counts the requests a round sends the
// registry: a manifest HEAD per tag, a manifest GET per new or changed
// tag (is it an image or an artifact?) and, per repository and for the
// catalog, a ping (the login) and a list page, as docs/sources.md states
// the cost. A round that pinged the registry before every HEAD sent twice
// that (integration/sources_test.go measures it against the real
// distribution registry: TestSourceRegistryCalls).
func TestARoundCostsAHeadPerTag(t *testing.T) {
	r := newRig(t)
	perRepo := map[string]int{"team/app": 30, "team/api": 10}
	tags := 0
	for repo, n := range perRepo {
		for i := range n {
			r.reg.push(t, fmt.Sprintf("%s:v%d", repo, i))
		}
		tags += n
	}
	p := r.poller(t, r.source("calls"), nil)
	for _, tc := range []struct {
		name    string
		enqueue int
	}{
		{"the first round, every tag new", tags},
		{"a round with nothing changed", 0},
	} {
		before := r.reg.requests.Load()
		rep := round(t, p, false)
		n := int(r.reg.requests.Load() - before)
		t.Logf("%s: %d requests for %d tags in %d repositories", tc.name, n, tags, len(perRepo))
		if len(rep.Jobs) != tc.enqueue || rep.Tags != tags {
			t.Errorf("%s: %d tags checked, %d enqueued; want %d, %d", tc.name, rep.Tags, len(rep.Jobs), tags, tc.enqueue)
		}
		// A ping and a list page per repository and for the catalog,
		// a HEAD per tag, a GET per enqueued (new) tag.
		if want := tags + tc.enqueue + 2*(len(perRepo)+1); n > want {
			t.Errorf("%s sent %d requests, want at most %d", tc.name, n, want)
		}
	}
}
