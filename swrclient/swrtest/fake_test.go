package swrtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRoutes(t *testing.T) {
	tests := []struct {
		path, api, ns, name string
		ok                  bool
	}{
		{"/v2/manage/repos", APIListReposDetails, "", "", true},
		{"/v2/manage/namespaces/team/repos/app/tags", APIListRepositoryTags, "team", "app", true},
		{"/v2/manage/namespaces/team/repos/a$b$c/tags", APIListRepositoryTags, "team", "a/b/c", true},
		{"/v2/manage/namespaces/team/repos/a%2Fb/tags", APIListRepositoryTags, "", "", false},
		{"/v2/manage/namespaces/team/repos/app/tags/x", "", "", "", false},
		{"/v3/manage/namespaces/team/repos/app/tags", "", "", "", false},
	}
	for _, tt := range tests {
		api, ns, name, ok := route(tt.path)
		if ok != tt.ok || ok && (api != tt.api || ns != tt.ns || name != tt.name) {
			t.Errorf("%s: %s %s %s %v", tt.path, api, ns, name, ok)
		}
	}
}

func TestUnsignedIsRefused(t *testing.T) {
	f := New(Options{AccessKeys: map[string]Key{"AK": {SecretKey: "SK"}}})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v2/manage/repos", nil)
	req.Header.Set("Content-Type", "application/json")
	f.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "APIG.0301") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// FuzzCheckQuery: the fake's query decoder never panics, and what it
// accepts holds only the model's parameters, limit and offset paired.
func FuzzCheckQuery(f *testing.F) {
	f.Add("limit=100&offset=0&order_column=updated_at&order_type=desc&namespace=team")
	f.Add("filter=namespace::team|limit::10|offset::0")
	f.Add("limit=10&limit=20")
	f.Fuzz(func(t *testing.T, raw string) {
		for _, params := range [][]param{reposParams, tagsParams} {
			q, bad := checkQuery(raw, params)
			if bad != nil {
				continue
			}
			if q.Has("limit") != q.Has("offset") || q.Has("filter") {
				t.Fatalf("accepted %q as %v", raw, q)
			}
		}
	})
}

func FuzzRoute(f *testing.F) {
	f.Add("/v2/manage/namespaces/team/repos/a$b/tags")
	f.Fuzz(func(t *testing.T, p string) {
		api, ns, name, ok := route(p)
		if ok && api == APIListRepositoryTags && (ns == "" || name == "") {
			t.Fatalf("%q routed to %q %q", p, ns, name)
		}
	})
}
