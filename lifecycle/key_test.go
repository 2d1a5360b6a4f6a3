package lifecycle

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// validKey is JetStream's rule for a KV key: allowed characters, and no
// empty token.
var validKey = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$`)

func TestKeyOfIsReadable(t *testing.T) {
	tests := []struct {
		name string
		job  scanjob.Job
		want string // prefix, before the target token
	}{
		{"plain names stay as they are", testJob("team", "lib/app", "v1"), "team.lib/app.v1.=_."},
		{"dots are escaped", testJob("team.prod", "app", "1.0"), "team=2Eprod.app.1=2E0.=_."},
		{"a digest", func() scanjob.Job { j := testJob("t", "a", "v"); j.Digest = "sha256:ab"; return j }(), "t.a.v.sha256=3Aab."},
		{"a long name is hashed", testJob("t", strings.Repeat("a.", 64), "v"), "t.=H"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := KeyOf(tt.job)
			if !strings.HasPrefix(k, tt.want) || !validKey.MatchString(k) || strings.Count(k, ".") != keyTokens-1 {
				t.Fatalf("KeyOf = %q, want prefix %q", k, tt.want)
			}
		})
	}
}

// FuzzKeyOf: every key is a valid KV key of five tokens, and two
// identities that differ give different keys.
func FuzzKeyOf(f *testing.F) {
	f.Add("team", "lib/app", "v1", "", "team", "lib/app", "v1", "sha256:ab", "p1", "p1")
	f.Add("a.b", "c", "d", "", "a", "b.c", "d", "", "p", "p")
	f.Add("a=2Eb", "c", "d", "", "a.b", "c", "d", "", "p", "p")
	f.Add("", "=_", "x", "", "=_", "", "x", "", "p", "p")
	f.Add(strings.Repeat("é", 100), "c", "d", "", "x", "c", "d", "", "p", "q")
	f.Fuzz(func(t *testing.T, ns1, img1, tag1, dg1, ns2, img2, tag2, dg2, p1, p2 string) {
		j1, j2 := testJob(ns1, img1, tag1), testJob(ns2, img2, tag2)
		j1.Digest, j2.Digest = dg1, dg2
		j1.Target.ProjectID, j2.Target.ProjectID = p1, p2
		k1, k2 := KeyOf(j1), KeyOf(j2)
		for _, k := range []string{k1, k2} {
			if !validKey.MatchString(k) || strings.Count(k, ".") != keyTokens-1 || len(k) > 4*maxToken+keyTokens+17 {
				t.Fatalf("KeyOf gave %q", k)
			}
		}
		same := ns1 == ns2 && img1 == img2 && tag1 == tag2 && dg1 == dg2 && p1 == p2
		if same != (k1 == k2) {
			t.Fatalf("identities same=%v, keys %q and %q", same, k1, k2)
		}
		// The filter of a job's own names selects its key.
		f := Filter{Namespace: ns1, Image: img1, Tag: tag1}
		if ns1 != "" && img1 != "" && tag1 != "" && !matchSubject(f.subject(), k1) {
			t.Fatalf("filter %q does not select %q", f.subject(), k1)
		}
	})
}

// matchSubject is NATS subject matching of a filter with * and > against
// a key.
func matchSubject(filter, key string) bool {
	ft, kt := strings.Split(filter, "."), strings.Split(key, ".")
	for i, f := range ft {
		if f == ">" {
			return len(kt) > i
		}
		if i >= len(kt) || f != "*" && f != kt[i] {
			return false
		}
	}
	return len(ft) == len(kt)
}

// FuzzDecodeRecord: any stored value decodes to a record or an error, and
// a decoded record survives a write and read unchanged.
func FuzzDecodeRecord(f *testing.F) {
	r := NewRecord(testJob("team", "app", "v1"))
	r.Key = KeyOf(r.Job())
	r.History = []Transition{{State: Accepted}}
	b, _ := json.Marshal(r)
	f.Add(b)
	f.Add([]byte(`{"state":"scanned","history":[{"state":"x"}],"hss":{"id":-1}}`))
	f.Add([]byte(`{"pushed_at":"0000-01-01T00:00:00Z"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decode(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			return // a time json.Marshal cannot write (year outside 0-9999)
		}
		back, err := decode(out)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
		again, _ := json.Marshal(back)
		if !bytes.Equal(out, again) {
			t.Fatalf("round trip changed the record:\n%s\n%s", out, again)
		}
	})
}
