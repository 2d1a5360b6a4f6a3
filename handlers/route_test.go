package handlers

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

func TestRouting(t *testing.T) {
	routes := []RouteConfig{
		{Match: RouteMatch{Repository: "sandbox/*"}, Action: ActionDrop},
		{Match: RouteMatch{Host: "ghcr.io", RepositoryRegexp: `^acme/(?P<app>[^/]+)$`}, Namespace: "acme-prod", Image: "${app}"},
		{Match: RouteMatch{Namespace: "shared-*"}, Target: scanjob.Target{ImageType: scanjob.SharedImage, ProjectID: "p-shared"}},
		{Match: RouteMatch{Receiver: "ci", Repository: "*"}, Namespace: "library", Image: "${repository}"},
	}
	rcvs := []ReceiverConfig{
		{Name: "hub", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}},
		{Name: "ci", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}},
	}
	cfg := DefaultConfig()
	cfg.Receivers, cfg.Routes = rcvs, routes
	s, err := New(cfg, Options{Publisher: &memPublisher{}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		receiver  string
		event     string
		wantRule  int
		wantJob   string // namespace/image:tag, empty for none
		wantType  scanjob.ImageType
		wantSkip  string
		wantProjt string
	}{
		{"a drop rule drops with its index", "hub", `{"repository":"sandbox/tmp","tag":"1"}`, 0, "", "", "dropped by routes[0]", ""},
		{"a regexp rule renames by named group", "hub", `{"repository":"acme/api","tag":"2","registry":"ghcr.io"}`, 1, "acme-prod/api:2", scanjob.PrivateImage, "", "p1"},
		{"the regexp does not match deeper paths", "hub", `{"repository":"acme/a/b","tag":"2","registry":"ghcr.io"}`, -1, "acme/a/b:2", scanjob.PrivateImage, "", "p1"},
		{"the host condition must hold too", "hub", `{"repository":"acme/api","tag":"2","registry":"quay.io"}`, -1, "acme/api:2", scanjob.PrivateImage, "", "p1"},
		{"a target override changes type and project only", "hub", `{"repository":"shared-x/app","tag":"3"}`, 2, "shared-x/app:3", scanjob.SharedImage, "", "p-shared"},
		{"a namespace for one-segment repositories", "ci", `{"repository":"alpine","tag":"3.20"}`, 3, "library/alpine:3.20", scanjob.PrivateImage, "", "p1"},
		{"no rule and no namespace is skipped with a reason", "hub", `{"repository":"alpine","tag":"3.20"}`, -1, "", "", "no namespace", ""},
		{"no rule keeps the receiver's mapping", "hub", `{"repository":"team/app","tag":"1"}`, -1, "team/app:1", scanjob.PrivateImage, "", "p1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := s.Explain(tt.receiver, http.Header{}, []byte(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantJob == "" {
				if len(e.Jobs) != 0 || len(e.Skipped) != 1 || !strings.Contains(e.Skipped[0].Reason, tt.wantSkip) {
					t.Fatalf("got %+v, want one skip mentioning %q", e, tt.wantSkip)
				}
				return
			}
			if len(e.Jobs) != 1 {
				t.Fatalf("got %+v, want one job", e)
			}
			j := e.Jobs[0]
			if got := j.Job.Namespace + "/" + j.Job.Image + ":" + j.Job.Tag; got != tt.wantJob || j.Decision.Rule != tt.wantRule ||
				j.Job.Target.ImageType != tt.wantType || j.Job.Target.ProjectID != tt.wantProjt {
				t.Fatalf("got %s rule %d type %s project %s, want %s rule %d type %s project %s", got, j.Decision.Rule,
					j.Job.Target.ImageType, j.Job.Target.ProjectID, tt.wantJob, tt.wantRule, tt.wantType, tt.wantProjt)
			}
		})
	}
}

func TestRouteRulesAreCheckedAtStart(t *testing.T) {
	tests := []struct {
		name  string
		route RouteConfig
		want  string
	}{
		{"a broken glob", RouteConfig{Match: RouteMatch{Repository: "team/["}}, "routes[0]: match.repository"},
		{"a broken regexp", RouteConfig{Match: RouteMatch{RepositoryRegexp: "("}}, "routes[0]: match.repository_regexp"},
		{"an unknown action", RouteConfig{Action: "scan-twice"}, "action"},
		{"a drop that also rewrites", RouteConfig{Action: ActionDrop, Namespace: "x"}, "drop rule rewrites nothing"},
		{"an unknown image type", RouteConfig{Target: scanjob.Target{ImageType: "local_image"}}, "image_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Receivers = []ReceiverConfig{{Name: "r", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}}}
			cfg.Routes = []RouteConfig{tt.route}
			_, err := New(cfg, Options{Publisher: &memPublisher{}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestRoutedJobOverLimitIsRefused(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Receivers = []ReceiverConfig{{Name: "r", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}}}
	cfg.Routes = []RouteConfig{{Namespace: strings.Repeat("n", 40) + "-${namespace}"}}
	s, err := New(cfg, Options{Publisher: &memPublisher{}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Explain("r", http.Header{}, []byte(`{"repository":"`+strings.Repeat("t", 30)+`/app","tag":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Errors) != 1 || !strings.Contains(e.Errors[0], "namespace") {
		t.Fatalf("a rewritten namespace over 64 characters must be refused at the door: %+v", e)
	}
}

func TestExpandVars(t *testing.T) {
	vars := func(n string) string { return map[string]string{"a": "A", "1": "one", "b_c": "BC"}[n] }
	for in, want := range map[string]string{
		"$a-${a}": "A-A", "x${1}y": "xoney", "x$1y": "x" /* as regexp.Expand: the longest name */, "${b_c}/$b_c": "BC/BC", "$": "$", "a$-b": "a$-b", "${open": "${open", "${}": "",
	} {
		if got := expandVars(in, vars); got != want {
			t.Errorf("expandVars(%q) = %q, want %q", in, got, want)
		}
	}
}
