package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// memPublisher is an in-memory Publisher with the queue's dedup
// behaviour, and a switch to fail like an unreachable NATS.
type memPublisher struct {
	mu   sync.Mutex
	jobs map[string]scanjob.Job
	fail error
}

func (p *memPublisher) Publish(_ context.Context, j scanjob.Job) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return false, p.fail
	}
	if p.jobs == nil {
		p.jobs = map[string]scanjob.Job{}
	}
	if _, dup := p.jobs[j.ID()]; dup {
		return true, nil
	}
	p.jobs[j.ID()] = j
	return false, nil
}

func (p *memPublisher) stored() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.jobs)
}

var target = scanjob.Target{Region: "cn-north-4", ProjectID: "p1", ImageType: scanjob.PrivateImage}

func newTestServer(t *testing.T, pub Publisher, rcs ...ReceiverConfig) *echo.Echo {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 4096
	cfg.Receivers = rcs
	s, err := New(cfg, Options{Publisher: pub})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s.NewEcho()
}

func send(t *testing.T, e *echo.Echo, path, body string, hdr map[string]string) (int, Answer) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	var ans Answer
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
		t.Fatalf("answer is not JSON: %q", rec.Body.String())
	}
	return rec.Code, ans
}

func sign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

const push = `{"events":[{"repository":"team/app","tag":"1.0"},{"repository":"team/app","tag":"1.1"}]}`

func TestWebhookAuth(t *testing.T) {
	tokenRecv := ReceiverConfig{Name: "tok", Format: "generic", Target: target,
		Auth: AuthConfig{Method: AuthToken, Prefix: "Bearer ", Secrets: []string{"old-secret-0123456789", "new-secret-0123456789"}}}
	hmacRecv := ReceiverConfig{Name: "sig", Format: "generic", Target: target,
		Auth: AuthConfig{Method: AuthHMAC, Header: "X-Hub-Signature-256", Prefix: "sha256=", Secrets: []string{"sig-secret-0000001"}}}
	tests := []struct {
		name     string
		path     string
		header   map[string]string
		wantCode int
		wantJobs int
	}{
		{"the current token is accepted", "/webhooks/tok", map[string]string{"Authorization": "Bearer new-secret-0123456789"}, 202, 2},
		{"the previous token still works during rotation", "/webhooks/tok", map[string]string{"Authorization": "Bearer old-secret-0123456789"}, 202, 2},
		{"a wrong token is refused", "/webhooks/tok", map[string]string{"Authorization": "Bearer nope"}, 401, 0},
		{"a token without its prefix is refused", "/webhooks/tok", map[string]string{"Authorization": "new-secret-0123456789"}, 401, 0},
		{"a missing token is refused", "/webhooks/tok", nil, 401, 0},
		{"a correct body signature is accepted", "/webhooks/sig", map[string]string{"X-Hub-Signature-256": sign("sig-secret-0000001", push)}, 202, 2},
		{"a signature with another key is refused", "/webhooks/sig", map[string]string{"X-Hub-Signature-256": sign("k2", push)}, 401, 0},
		{"a signature of another body is refused", "/webhooks/sig", map[string]string{"X-Hub-Signature-256": sign("sig-secret-0000001", push+" ")}, 401, 0},
		{"a signature that is not hex is refused", "/webhooks/sig", map[string]string{"X-Hub-Signature-256": "sha256=zz"}, 401, 0},
		{"an unknown receiver is refused like a wrong secret", "/webhooks/nope", nil, 401, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &memPublisher{}
			e := newTestServer(t, pub, tokenRecv, hmacRecv)
			code, ans := send(t, e, tt.path, push, tt.header)
			if code != tt.wantCode {
				t.Fatalf("status = %d, want %d (answer %+v)", code, tt.wantCode, ans)
			}
			if pub.stored() != tt.wantJobs {
				t.Fatalf("stored %d jobs, want %d", pub.stored(), tt.wantJobs)
			}
		})
	}
}

func TestWebhookAnswers(t *testing.T) {
	recv := ReceiverConfig{Name: "r", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}}
	long := strings.Repeat("n", 65)
	tests := []struct {
		name       string
		body       string
		failStore  bool
		wantCode   int
		wantStatus string
		wantStored int
		wantInText string
	}{
		{"tagged pushes are stored and answered 202", push, false, 202, "accepted", 2, "team/app:1.0"},
		{"a push by digest only is ignored with its reason", `{"events":[{"repository":"team/app","digest":"sha256:` + strings.Repeat("a", 64) + `"}]}`, false, 200, "ignored", 0, "digest"},
		{"a repository without namespace is skipped with a reason", `{"events":[{"repository":"alpine","tag":"3"}]}`, false, 200, "ignored", 0, "namespace"},
		{"a body that is not the format is 400", `not json`, false, 400, "error", 0, "generic"},
		{"one job over an HSS limit refuses the whole body and stores nothing",
			`{"events":[{"repository":"team/app","tag":"1.0"},{"repository":"` + long + `/app","tag":"1"}]}`, false, 400, "error", 0, "namespace"},
		{"a store failure is 503 and nothing is claimed", push, true, 503, "error", 0, "retry"},
		{"a body over the limit is 413", `{"events":[{"repository":"team/app","tag":"` + strings.Repeat("t", 5000) + `"}]}`, false, 413, "error", 0, "4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &memPublisher{}
			if tt.failStore {
				pub.fail = errors.New("nats: no responders available for request")
			}
			e := newTestServer(t, pub, recv)
			code, ans := send(t, e, "/webhooks/r", tt.body, nil)
			if code != tt.wantCode || ans.Status != tt.wantStatus {
				t.Fatalf("got %d %q, want %d %q (answer %+v)", code, ans.Status, tt.wantCode, tt.wantStatus, ans)
			}
			if pub.stored() != tt.wantStored {
				t.Fatalf("stored %d, want %d", pub.stored(), tt.wantStored)
			}
			raw, _ := json.Marshal(ans)
			if !strings.Contains(string(raw), tt.wantInText) {
				t.Fatalf("answer %s does not mention %q", raw, tt.wantInText)
			}
			if ans.RequestID == "" {
				t.Fatal("answer has no request id")
			}
		})
	}
}

func TestWebhookRetryIsDuplicate(t *testing.T) {
	pub := &memPublisher{}
	e := newTestServer(t, pub, ReceiverConfig{Name: "r", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}})
	send(t, e, "/webhooks/r", push, nil)
	code, ans := send(t, e, "/webhooks/r", push, nil)
	if code != 202 || len(ans.Jobs) != 2 || !ans.Jobs[0].Duplicate || !ans.Jobs[1].Duplicate {
		t.Fatalf("retry answer = %d %+v, want 202 with both jobs duplicate", code, ans)
	}
	if pub.stored() != 2 {
		t.Fatalf("stored %d jobs, want 2", pub.stored())
	}
}

func TestNewRefusesBadReceivers(t *testing.T) {
	tests := []struct {
		name string
		rc   ReceiverConfig
		want string
	}{
		{"an unknown format lists the known ones", ReceiverConfig{Name: "a", Format: "nope", Target: target, Auth: AuthConfig{Method: AuthNone}}, "generic"},
		{"token auth without a secret", ReceiverConfig{Name: "a", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthToken}}, "at least one secret"},
		{"a name with a slash", ReceiverConfig{Name: "a/b", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}}, "name"},
		{"a target without project", ReceiverConfig{Name: "a", Format: "generic", Target: scanjob.Target{Region: "r", ImageType: scanjob.PrivateImage}, Auth: AuthConfig{Method: AuthNone}}, "project_id"},
		{"an instance image without instance id", ReceiverConfig{Name: "a", Format: "generic", Target: scanjob.Target{Region: "r", ProjectID: "p", ImageType: scanjob.InstanceImage}, Auth: AuthConfig{Method: AuthNone}}, "instance_id"},
		{"an unknown auth method", ReceiverConfig{Name: "a", Format: "generic", Target: target, Auth: AuthConfig{Method: "magic"}}, "method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Receivers = []ReceiverConfig{tt.rc}
			_, err := New(cfg, Options{Publisher: &memPublisher{}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestEachListenerServesItsOwnRoutes checks the split between the two
// listeners: the webhook one, which faces the registries, has no /metrics;
// the admin one has /metrics and no webhook route.
func TestEachListenerServesItsOwnRoutes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Receivers = []ReceiverConfig{{Name: "r", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}}}
	s, err := New(cfg, Options{Publisher: &memPublisher{}, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	webhook, adm := s.NewEcho(), s.NewAdminEcho()
	tests := []struct {
		name     string
		e        *echo.Echo
		method   string
		path     string
		wantCode int
	}{
		{"the webhook listener takes webhooks", webhook, http.MethodPost, "/webhooks/r", http.StatusAccepted},
		{"the webhook listener answers the liveness probe", webhook, http.MethodGet, "/healthz", http.StatusOK},
		{"the webhook listener answers the readiness probe", webhook, http.MethodGet, "/readyz", http.StatusOK},
		{"the webhook listener has no /metrics", webhook, http.MethodGet, "/metrics", http.StatusNotFound},
		{"the admin listener serves /metrics without credentials", adm, http.MethodGet, "/metrics", http.StatusOK},
		{"the admin listener takes no webhooks", adm, http.MethodPost, "/webhooks/r", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(push))
			rec := httptest.NewRecorder()
			tt.e.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("%s %s = %d, want %d: %s", tt.method, tt.path, rec.Code, tt.wantCode, rec.Body)
			}
			if rec.Header().Get(echo.HeaderXRequestID) == "" {
				t.Fatal("no request id on the answer")
			}
		})
	}
}
