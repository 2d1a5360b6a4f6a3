package formats

import "testing"

func TestParseRef(t *testing.T) {
	const (
		dg  = "sha256:2fb9a3ed677bbd9e5eaea133260c5d4d6f61d03c7d9cb5e25d3d7762303e9bc5"
		dg2 = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4"
	)
	tests := []struct {
		name, in string
		want     imageRef
		ok       bool
	}{
		{"host, nested repository and tag", "hub.harbor.com/team/sub/app:1.0", imageRef{"hub.harbor.com", "team/sub/app", "1.0", ""}, true},
		{"a host with a port is not a tag", "harbor.example.com:8443/team/app:1.0", imageRef{"harbor.example.com:8443", "team/app", "1.0", ""}, true},
		{"digest after @", "localhost/harbor/alpine@" + dg, imageRef{"localhost", "harbor/alpine", "", dg}, true},
		// The harbor-v1 decoder's former parser split at the last colon and
		// gave the repository "aaa/cnab_copy:sha256" and the tag "<hex>".
		{"Harbor 2.0's repo:sha256:<hex> is a digest, not a repository repo:sha256 with a hex tag", "10.92.103.227/aaa/cnab_copy:" + dg, imageRef{"10.92.103.227", "aaa/cnab_copy", "", dg}, true},
		{"a digest after @ wins over a digest written as a tag", "h.example.com/a/b:" + dg + "@" + dg2, imageRef{"h.example.com", "a/b", "", dg2}, true},
		{"an https scheme is dropped", "https://ee.example.com/ns/app:v1", imageRef{"ee.example.com", "ns/app", "v1", ""}, true},
		{"any scheme is dropped", "docker://ee.example.com/ns/app:v1", imageRef{"ee.example.com", "ns/app", "v1", ""}, true},
		{"no host when the first component does not look like one", "team/app:v1", imageRef{"", "team/app", "v1", ""}, true},
		{"tag and digest together", "r.example.com/team/app:v1@" + dg, imageRef{"r.example.com", "team/app", "v1", dg}, true},
		{"the host is lower-cased, the path is kept", "GHCR.io/Owner/App:v1", imageRef{"ghcr.io", "Owner/App", "v1", ""}, true},
		{"slashes around the path are dropped", "quay.io/ns/app/", imageRef{"quay.io", "ns/app", "", ""}, true},
		{"a host alone names no repository", "quay.io/", imageRef{Host: "quay.io"}, false},
		{"a lone colon names nothing", ":", imageRef{}, false},
		{"empty", "", imageRef{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRef(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("parseRef(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestValidRepository(t *testing.T) {
	tests := []struct {
		repo string
		ok   bool
	}{
		{"team/app", true},
		{"team/sub/app", true},
		{"a", true},
		{"my-team/app_1.x__y", true},
		{"a--b/c", true},
		{"Team/app", false},
		{"team//app", false},
		{"/team/app", false},
		{"team/app/", false},
		{"team/-app", false},
		{"team/app.", false},
		{"team/a___b", false},
		{"team/a..b", false},
		{"team/app:1", false},
		{"../etc", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := validRepository(tt.repo); got != tt.ok {
			t.Errorf("validRepository(%q) = %v, want %v", tt.repo, got, tt.ok)
		}
	}
}

func TestRepoPath(t *testing.T) {
	tests := []struct {
		name, full, namespace, repo, want string
	}{
		{"the full name wins", "team/app", "other", "x", "team/app"},
		{"namespace and name stand in for a missing full name", "", "team", "app", "team/app"},
		{"slashes and spaces around the parts are dropped", " /team/app/ ", "", "", "team/app"},
		{"a name without a namespace is not a path", "", "", "app", ""},
		{"nothing is nothing", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := repoPath(tt.full, tt.namespace, tt.repo); got != tt.want {
				t.Fatalf("repoPath(%q, %q, %q) = %q, want %q", tt.full, tt.namespace, tt.repo, got, tt.want)
			}
		})
	}
}
