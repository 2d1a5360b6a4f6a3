package handlers

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scan-bridge/scan-bridge/handlers/formats"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

func TestCheckConfig(t *testing.T) {
	good := func() ReceiverConfig {
		return ReceiverConfig{Name: "ci", Format: "generic", Target: target,
			Auth: AuthConfig{Method: AuthToken, Secrets: []string{"a-secret-of-16-bytes"}}}
	}
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name      string
		receivers []ReceiverConfig
		routes    []RouteConfig
		// want are the problems, in order: a *TagError as
		// "tag:<setting> <tag>", the others as their whole line.
		want []string
	}{
		{name: "a good receiver and a good route", receivers: []ReceiverConfig{good()},
			routes: []RouteConfig{{Match: RouteMatch{RepositoryRegexp: `^acme/(?P<app>[^/]+)/(\w+)$`}, Namespace: "${2}", Image: "${app}-$1-${image}"}}},
		{name: "an unknown auth method is one tag error, not also an unknown method and unused fields",
			receivers: []ReceiverConfig{func() ReceiverConfig { r := good(); r.Auth.Method = "magic"; return r }()},
			want:      []string{"tag:auth.method oneof"}},
		{name: "a bad hmac algorithm is one tag error",
			receivers: []ReceiverConfig{func() ReceiverConfig { r := good(); r.Auth.Method, r.Auth.Algorithm = AuthHMAC, "md5"; return r }()},
			want:      []string{"tag:auth.algorithm oneof"}},
		{name: "a target without region and project is two tag errors and no target line",
			receivers: []ReceiverConfig{func() ReceiverConfig {
				r := good()
				r.Target = scanjob.Target{ImageType: scanjob.PrivateImage}
				return r
			}()},
			want: []string{"tag:target.region required", "tag:target.project_id required"}},
		{name: "each problem of one receiver is a line of its own",
			receivers: []ReceiverConfig{func() ReceiverConfig { r := good(); r.Name, r.Format = "a b", "harbr"; return r }()},
			want: []string{`receivers[0] "a b": name "a b": use 1-64 letters, digits, '-' or '_'`,
				`receivers[0] "a b": format "harbr": unknown, use one of ` + strings.Join(formats.Names(), ", ")}},
		{name: "a secret file that cannot be read",
			receivers: []ReceiverConfig{func() ReceiverConfig { r := good(); r.Auth.SecretFiles = []string{missing}; return r }()},
			want:      []string{`receivers[0] "ci": auth: secret_files[0]: open ` + missing + `: no such file or directory`}},
		{name: "a name used twice", receivers: []ReceiverConfig{good(), good()},
			want: []string{`receivers[1] "ci": defined twice (also receivers[0])`}},
		{name: "a template variable that is no variable",
			routes: []RouteConfig{{Namespace: "${namespac}"}},
			want:   []string{`routes[0]: namespace "${namespac}": ${namespac} is no variable (namespace, image, repository, host, receiver) and no group of match.repository_regexp`}},
		{name: "a group the regexp does not have",
			routes: []RouteConfig{{Match: RouteMatch{RepositoryRegexp: `^acme/(?P<app>.+)$`}, Image: "$2", Namespace: "${ap}"}},
			want: []string{`routes[0]: namespace "${ap}": ${ap} is no variable (namespace, image, repository, host, receiver) and no group of match.repository_regexp`,
				`routes[0]: image "$2": ${2} is no variable (namespace, image, repository, host, receiver) and no group of match.repository_regexp`}},
		{name: "a bad route rule, one line per problem",
			routes: []RouteConfig{{Action: "keep"}, {Match: RouteMatch{RepositoryRegexp: "("}}},
			want: []string{`routes[0]: action "keep": use scan or drop`,
				"routes[1]: match.repository_regexp: error parsing regexp: missing closing ): `(`"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, err := range CheckConfig(Config{Receivers: tt.receivers, Routes: tt.routes}) {
				var te *TagError
				if errors.As(err, &te) {
					got = append(got, "tag:"+te.Setting+" "+te.Field.Tag())
					continue
				}
				got = append(got, err.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("CheckConfig =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestCheckConfigAgreesWithNew: whatever CheckConfig passes, New accepts.
func TestCheckConfigAgreesWithNew(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Receivers = []ReceiverConfig{{Name: "ci", Format: "generic", Target: target,
		Auth: AuthConfig{Method: AuthHMAC, Header: "X-Sig", Prefix: "sha256=", Secrets: []string{"a-secret-of-16-bytes"}}}}
	cfg.Routes = []RouteConfig{{Match: RouteMatch{Repository: "sandbox/*"}, Action: ActionDrop}}
	if errs := CheckConfig(cfg); len(errs) != 0 {
		t.Fatalf("CheckConfig = %v", errs)
	}
	if _, err := New(cfg, Options{Publisher: &memPublisher{}}); err != nil {
		t.Fatalf("New = %v", err)
	}
}
