package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// These tests send the names of an outside attack (CR LF, NUL, spaces, '*',
// '>', right-to-left marks, invalid UTF-8, upper case, bad digests and
// hosts) through whole intakes: each body is refused with 400 naming the
// field, nothing of it is stored, and the answer shows the names escaped.
// Some the decoders of the strict formats refuse already; the rest reach
// scanjob.Job.Validate, which holds the OCI distribution grammar
// (scanjob/names.go) for every format and for routed names.

const validDigest = "sha256:4f98543ac6f792c1352e8c5a0555601ab3fd3497810581606c36c7416c5ffe37"

func TestWebhookRefusesNamesOutsideTheGrammar(t *testing.T) {
	rcs := []ReceiverConfig{
		{Name: "generic", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}},
		{Name: "job", Format: "job", Target: target, Auth: AuthConfig{Method: AuthNone}},
		{Name: "dockerhub", Format: "dockerhub", Target: target, Auth: AuthConfig{Method: AuthNone}},
	}
	tests := []struct {
		name      string
		receiver  string
		body      string
		wantField string // the field the answer names
	}{
		// generic: its decoder checks names itself; a digest of the wrong
		// length passes it and stops at the job's grammar.
		{"a generic tag with CR LF", "generic", `{"repository":"team/app","tag":"1.0\r\nX-Injected: 1"}`, `tag`},
		{"a generic tag with a NUL", "generic", `{"repository":"team/app","tag":"1.0\u0000"}`, `tag`},
		{"a generic repository with a space", "generic", `{"repository":"team/my app","tag":"1.0"}`, `repository`},
		{"a generic repository with a glob *", "generic", `{"repository":"team/*","tag":"1.0"}`, `repository`},
		{"a generic repository with a NATS wildcard >", "generic", `{"repository":"team/>","tag":"1.0"}`, `repository`},
		{"a generic repository with a right-to-left override", "generic", `{"repository":"team/app\u202egpj","tag":"1.0"}`, `repository`},
		{"a generic repository with invalid UTF-8", "generic", "{\"repository\":\"team/app\xff\",\"tag\":\"1.0\"}", `repository`},
		{"a generic repository in upper case", "generic", `{"repository":"Team/App","tag":"1.0"}`, `repository`},
		{"a generic repository with ..", "generic", `{"repository":"team/../app","tag":"1.0"}`, `repository`},
		{"a generic tag starting with -", "generic", `{"repository":"team/app","tag":"-rm"}`, `tag`},
		{"a generic tag of 129 characters", "generic", `{"repository":"team/app","tag":"` + strings.Repeat("t", 129) + `"}`, `tag`},
		{"a generic registry with CR LF", "generic", `{"repository":"team/app","tag":"1.0","registry":"registry.example.com\r\nX"}`, `registry`},
		{"a generic digest of the wrong length", "generic", `{"repository":"team/app","tag":"1.0","digest":"` + validDigest[:len(validDigest)-4] + `"}`, `digest`},

		// job: its decoder checks the repository and the tag; the registry
		// host and a digest of the wrong length reach the job's grammar.
		{"a job image_version with CR LF", "job", `{"namespace":"team","image_name":"app","image_version":"1.0\r\nX"}`, `image_version`},
		{"a job namespace in upper case", "job", `{"namespace":"Team","image_name":"app","image_version":"1.0"}`, `repository path`},
		{"a job image_name with a right-to-left override", "job", `{"namespace":"team","image_name":"app\u202e","image_version":"1.0"}`, `repository path`},
		{"a job registry_host with CR LF", "job", `{"namespace":"team","image_name":"app","image_version":"1.0","registry_host":"registry.example.com\r\nX-Injected: 1"}`, `registry_host`},
		{"a job registry_host with a space", "job", `{"namespace":"team","image_name":"app","image_version":"1.0","registry_host":"registry example"}`, `registry_host`},
		{"a job registry_host with a right-to-left override", "job", `{"namespace":"team","image_name":"app","image_version":"1.0","registry_host":"moc.elpmaxe\u202e"}`, `registry_host`},
		{"a job registry_host with a NUL", "job", `{"namespace":"team","image_name":"app","image_version":"1.0","registry_host":"registry.example.com\u0000"}`, `registry_host`},
		{"a job registry_host with a scheme", "job", `{"namespace":"team","image_name":"app","image_version":"1.0","registry_host":"https://registry.example.com"}`, `registry_host`},
		{"a job digest of the wrong length", "job", `{"namespace":"team","image_name":"app","image_version":"1.0","digest":"` + validDigest + `0"}`, `digest`},
		{"one bad job in a batch refuses the batch", "job", `{"jobs":[{"namespace":"team","image_name":"app","image_version":"1.0"},` +
			`{"namespace":"team","image_name":"app","image_version":"1.1","registry_host":"a*b"}]}`, `registry_host`},

		// dockerhub: a lenient format that checks no grammar; the job's
		// grammar is what refuses.
		{"a docker hub tag with CR LF", "dockerhub", `{"push_data":{"tag":"1.0\r\nX-Injected: 1"},"repository":{"repo_name":"team/app"}}`, `image_version`},
		{"a docker hub tag with a space", "dockerhub", `{"push_data":{"tag":"1.0 beta"},"repository":{"repo_name":"team/app"}}`, `image_version`},
		{"a docker hub tag with >", "dockerhub", `{"push_data":{"tag":">"},"repository":{"repo_name":"team/app"}}`, `image_version`},
		{"a docker hub repository in upper case", "dockerhub", `{"push_data":{"tag":"1.0"},"repository":{"repo_name":"team/App"}}`, `image_name`},
		{"a docker hub namespace with a NUL", "dockerhub", `{"push_data":{"tag":"1.0"},"repository":{"repo_name":"te\u0000am/app"}}`, `namespace`},
		{"a docker hub repository with a right-to-left override", "dockerhub", `{"push_data":{"tag":"1.0"},"repository":{"repo_name":"team/app\u202egpj"}}`, `image_name`},
		{"a docker hub repository with invalid UTF-8", "dockerhub", "{\"push_data\":{\"tag\":\"1.0\"},\"repository\":{\"repo_name\":\"team/app\xff\"}}", `image_name`},
		{"a docker hub namespace with a glob *", "dockerhub", `{"push_data":{"tag":"1.0"},"repository":{"repo_name":"*/app"}}`, `namespace`},
		{"a docker hub image with ..", "dockerhub", `{"push_data":{"tag":"1.0"},"repository":{"repo_name":"team/.."}}`, `image_name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &memPublisher{}
			e := newTestServer(t, pub, rcs...)
			code, raw := sendRaw(t, e, "/webhooks/"+tt.receiver, tt.body)
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", code, raw)
			}
			if pub.stored() != 0 {
				t.Fatalf("stored %d jobs of a refused body", pub.stored())
			}
			if !bytes.Contains(raw, []byte(tt.wantField)) {
				t.Fatalf("answer does not name %s: %s", tt.wantField, raw)
			}
			assertEscaped(t, raw)
		})
	}
}

func TestWebhookAcceptsTheGrammarsEdgeCases(t *testing.T) {
	rcs := []ReceiverConfig{
		{Name: "generic", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}},
		{Name: "job", Format: "job", Target: target, Auth: AuthConfig{Method: AuthNone}},
	}
	tests := []struct {
		name, receiver, body, wantImage string
	}{
		{"one-letter names", "generic", `{"repository":"a/b","tag":"1"}`, "a/b:1"},
		{"separators inside components", "generic", `{"repository":"a__b/c---d.e_f","tag":"v1.0_rc-1"}`, "a__b/c---d.e_f:v1.0_rc-1"},
		{"a multi-segment image with digest and host", "generic",
			`{"repository":"team/tools/cli","tag":"V2","digest":"` + validDigest + `","registry":"registry.example.com:5000"}`,
			"team/tools/cli:V2@" + validDigest},
		{"a 128-character tag", "job", `{"namespace":"team","image_name":"app","image_version":"` + strings.Repeat("t", 128) + `"}`,
			"team/app:" + strings.Repeat("t", 128)},
		{"an IPv6 registry host", "job", `{"namespace":"team","image_name":"app","image_version":"1","registry_host":"[fd00::1]:5000"}`, "team/app:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &memPublisher{}
			e := newTestServer(t, pub, rcs...)
			code, ans := send(t, e, "/webhooks/"+tt.receiver, tt.body, nil)
			if code != http.StatusAccepted || len(ans.Jobs) != 1 || ans.Jobs[0].Image != tt.wantImage {
				t.Fatalf("got %d %+v, want 202 with job %s", code, ans, tt.wantImage)
			}
			if pub.stored() != 1 {
				t.Fatalf("stored %d jobs, want 1", pub.stored())
			}
		})
	}
}

// TestRoutedNamesAreCheckedAfterRouting: a rewrite template can build a
// name no registry would report; the job's grammar refuses it like a sent
// one, because the intake validates after routing.
func TestRoutedNamesAreCheckedAfterRouting(t *testing.T) {
	tests := []struct {
		name      string
		route     RouteConfig
		body      string
		wantCode  int
		wantField string
	}{
		{"a namespace from the registry host (a ':' is not a path character)",
			RouteConfig{Namespace: "${host}"}, `{"repository":"team/app","tag":"1","registry":"registry.example.com:5000"}`, 400, "namespace"},
		{"a namespace from the whole repository (a '/' moves the image)",
			RouteConfig{Namespace: "${repository}"}, `{"repository":"team/app","tag":"1"}`, 400, "namespace"},
		{"an image in upper case",
			RouteConfig{Image: "Mirror-${image}"}, `{"repository":"team/app","tag":"1"}`, 400, "image_name"},
		{"an image from an empty regexp group",
			RouteConfig{Match: RouteMatch{RepositoryRegexp: `^team/(x?)app$`}, Image: "${1}/app"}, `{"repository":"team/app","tag":"1"}`, 400, "image_name"},
		{"a valid rewrite is stored",
			RouteConfig{Namespace: "mirror", Image: "${namespace}/${image}"}, `{"repository":"team/app","tag":"1"}`, 202, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Receivers = []ReceiverConfig{{Name: "r", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}}}
			cfg.Routes = []RouteConfig{tt.route}
			pub := &memPublisher{}
			s, err := New(cfg, Options{Publisher: pub})
			if err != nil {
				t.Fatal(err)
			}
			code, raw := sendRaw(t, s.NewEcho(), "/webhooks/r", tt.body)
			if code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", code, tt.wantCode, raw)
			}
			if tt.wantCode != http.StatusAccepted {
				if pub.stored() != 0 || !bytes.Contains(raw, []byte(tt.wantField)) {
					t.Fatalf("stored %d; answer must name %s: %s", pub.stored(), tt.wantField, raw)
				}
			}
			// `bridge route` explains the same body the same way.
			ex, err := s.Explain("r", http.Header{}, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if refused := len(ex.Errors) > 0; refused != (tt.wantCode == http.StatusBadRequest) {
				t.Fatalf("Explain errors %q, want refused = %v", ex.Errors, tt.wantCode == http.StatusBadRequest)
			}
		})
	}
}

func TestNATSIntakeRefusesNamesOutsideTheGrammar(t *testing.T) {
	nc := natstest.Start(t).Connect()
	pub := &memPublisher{}
	cfg := DefaultConfig()
	cfg.Receivers = []ReceiverConfig{{Name: "ci", Format: "job", Target: target, Auth: AuthConfig{Method: AuthNone}}}
	s, err := New(cfg, Options{Publisher: pub})
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.ServeNATS(nc, NATSIntakeConfig{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Shutdown(context.Background()) })

	m := nats.NewMsg("scanbridge.intake.ci")
	m.Data = []byte(`{"namespace":"team","image_name":"app","image_version":"1.0","registry_host":"registry.example.com\r\nX-Injected: 1"}`)
	reply, err := nc.RequestMsg(m, 5*time.Second)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	var a NATSAnswer
	if err := json.Unmarshal(reply.Data, &a); err != nil {
		t.Fatalf("reply %q: %v", reply.Data, err)
	}
	if a.Code != http.StatusBadRequest || pub.stored() != 0 || !bytes.Contains(reply.Data, []byte("registry_host")) {
		t.Fatalf("reply %s, stored %d; want 400 naming registry_host and nothing stored", reply.Data, pub.stored())
	}
	assertEscaped(t, reply.Data)
}

// sendRaw posts body and returns the status and the raw answer.
func sendRaw(t *testing.T, h http.Handler, path, body string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// assertEscaped checks that an answer shows a sender's names escaped: valid
// UTF-8 with no control characters and no bidi marks (encoding/json
// escapes control characters but passes U+202E through). Invalid UTF-8 in
// a JSON body arrives as U+FFFD, which encoding/json decodes it to.
func assertEscaped(t *testing.T, raw []byte) {
	t.Helper()
	if !utf8.Valid(raw) {
		t.Fatalf("answer is not valid UTF-8: %q", raw)
	}
	for _, r := range strings.TrimSuffix(string(raw), "\n") {
		if r < ' ' || r == '\u202e' {
			t.Fatalf("answer holds %U: %q", r, raw)
		}
	}
}
