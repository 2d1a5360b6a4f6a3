package handlers

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

func TestMatchAnyComparesDigests(t *testing.T) {
	candidates := []digest{sha256.Sum256([]byte("first-secret-0123")), sha256.Sum256([]byte("second-secret-0123"))}
	tests := []struct {
		name string
		got  string
		want bool
	}{
		{"the first secret matches", "first-secret-0123", true},
		{"the last secret matches too (every candidate is compared)", "second-secret-0123", true},
		{"a prefix of a secret does not match", "first-secret", false},
		{"a secret with a byte more does not match", "first-secret-01234", false},
		{"an empty value does not match", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchAny([]byte(tt.got), candidates); got != tt.want {
				t.Fatalf("matchAny(%q) = %t, want %t", tt.got, got, tt.want)
			}
		})
	}
}

// TestJWKSRedirectIsNotFollowed serves a valid key set behind a redirect:
// the bridge must not fetch it (a redirect could lead to plain http or
// another host), so the token cannot be checked and the sender is told to
// retry, not accepted.
func TestJWKSRedirectIsNotFollowed(t *testing.T) {
	keys := newTestKeys(t)
	real := keys.serve(t, keys.k1)
	redirector := httptest.NewServer(http.RedirectHandler(real.URL, http.StatusFound))
	t.Cleanup(redirector.Close)

	v, err := newVerifier(AuthConfig{Method: AuthJWT, JWKSURL: redirector.URL, Audience: "aud-1"})
	if err != nil {
		t.Fatal(err)
	}
	tok := keys.mint(t, keys.k1, "k1", pubsubClaims(time.Now()))
	_, err = v.verify(t.Context(), authRequest{header: http.Header{"Authorization": {"Bearer " + tok}}})
	if !errors.Is(err, errAuthUnavailable) || !strings.Contains(err.Error(), "redirected") {
		t.Fatalf("verify through a redirecting key server: err = %v, want errAuthUnavailable naming the redirect", err)
	}
	if n := real.hits.Load(); n != 0 {
		t.Fatalf("the redirect target was fetched %d times", n)
	}
}

func TestJWKSURLMustBeHTTPSOrLoopback(t *testing.T) {
	tests := []struct {
		url    string
		wantOK bool
	}{
		{"https://www.googleapis.com/oauth2/v3/certs", true},
		{"http://127.0.0.1:8081/certs", true},
		{"http://[::1]:8081/certs", true},
		{"http://localhost:8081/certs", true},
		{"http://www.googleapis.com/oauth2/v3/certs", false},
		{"http://127.0.0.1.nip.io/certs", false},
		{"http://10.0.0.7/certs", false},
		{"ftp://127.0.0.1/certs", false},
		{"/certs", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := newVerifier(AuthConfig{Method: AuthJWT, JWKSURL: tt.url, Audience: "aud-1"})
			if (err == nil) != tt.wantOK {
				t.Fatalf("newVerifier(jwks_url %s) error = %v, want ok %t", tt.url, err, tt.wantOK)
			}
			if err != nil && !strings.Contains(err.Error(), "jwks_url") {
				t.Fatalf("the error does not name the setting: %v", err)
			}
		})
	}
}

// TestShortSecretsStopTheStart checks the minimum secret lengths: the
// error names the receiver and the setting, never the secret.
func TestShortSecretsStopTheStart(t *testing.T) {
	shortFile := filepath.Join(t.TempDir(), "hook")
	if err := os.WriteFile(shortFile, []byte("tiny-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sixteen := "0123456789abcdef"
	shortKey := "whsec_" + base64.StdEncoding.EncodeToString([]byte("8 bytes!"))
	tests := []struct {
		name    string
		auth    AuthConfig
		wantErr string // "" when the config must be accepted
	}{
		{"a five-byte token", AuthConfig{Method: AuthToken, Secrets: []string{"s3cre"}},
			`receivers[2] "c": auth: secrets[0]: 5 bytes; at least 16 are required`},
		{"a sixteen-byte token", AuthConfig{Method: AuthToken, Secrets: []string{sixteen}}, ""},
		{"a short second secret during rotation", AuthConfig{Method: AuthToken, Secrets: []string{sixteen, "k1"}},
			"secrets[1]: 2 bytes; at least 16 are required"},
		{"a fifteen-byte Basic password", AuthConfig{Method: AuthBasic, User: "eventbridge", Secrets: []string{sixteen[:15]}},
			"secrets[0]: 15 bytes; at least 16 are required"},
		{"a one-character HMAC key", AuthConfig{Method: AuthHMAC, Secrets: []string{"k"}},
			"secrets[0]: 1 bytes; at least 16 are required"},
		{"a short HMAC key from a file", AuthConfig{Method: AuthHMAC, SecretFiles: []string{shortFile}},
			"secret_files[0] (" + shortFile + "): 9 bytes; at least 16 are required"},
		{"a standard-webhooks key of eight bytes", AuthConfig{Method: AuthStandardWebhooks, Secrets: []string{shortKey}},
			"secrets[0]: the key decodes to 8 bytes; at least 16 are required"},
		{"a standard-webhooks key of sixteen bytes", AuthConfig{Method: AuthStandardWebhooks,
			Secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte(sixteen))}}, ""},
		{"a short path token", AuthConfig{Method: AuthPathToken, Secrets: []string{sixteen}}, "secrets[0]: use at least 32 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			none := AuthConfig{Method: AuthNone}
			cfg.Receivers = []ReceiverConfig{
				{Name: "a", Format: "generic", Target: target, Auth: none},
				{Name: "b", Format: "generic", Target: target, Auth: none},
				{Name: "c", Format: "generic", Target: target, Auth: tt.auth},
			}
			_, err := New(cfg, Options{Publisher: &memPublisher{}})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `receivers[2] "c"`) {
				t.Fatalf("New() error = %v, want it to name receivers[2] and say %q", err, tt.wantErr)
			}
			for _, s := range tt.auth.Secrets {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("the error quotes the secret: %v", err)
				}
			}
			if strings.Contains(err.Error(), "tiny-file") {
				t.Fatalf("the error quotes the file's secret: %v", err)
			}
		})
	}
}

// TestUnknownReceiverAnswersLikeFailedAuth checks that a prober cannot
// tell a receiver name that does not exist from one whose credentials it
// lacks: same status, same body apart from the request id, same headers.
func TestUnknownReceiverAnswersLikeFailedAuth(t *testing.T) {
	recvs := []ReceiverConfig{
		{Name: "harbor", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthToken, Secrets: []string{"harbor-token-0123456789"}}},
		{Name: "gh", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthHMAC, Prefix: "sha256=", Secrets: []string{"gh-webhook-secret-1"}}},
		{Name: "hub", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthPathToken, Secrets: []string{pathToken}}},
	}
	e := newTestServer(t, &memPublisher{}, recvs...)
	answer := func(path string, hdr map[string]string) (int, string, http.Header) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(push))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		body := strings.Replace(rec.Body.String(), rec.Header().Get("X-Request-Id"), "<id>", 1)
		h := rec.Header().Clone()
		h.Del("X-Request-Id")
		return rec.Code, body, h
	}
	wantCode, wantBody, wantHeader := answer("/webhooks/nope", map[string]string{"Authorization": "guess"})
	if wantCode != http.StatusUnauthorized || !strings.Contains(wantBody, errUnauthorized.Error()) {
		t.Fatalf("unknown receiver: %d %s, want 401 %q", wantCode, wantBody, errUnauthorized.Error())
	}
	tests := []struct {
		name string
		path string
		hdr  map[string]string
	}{
		{"an unknown receiver without credentials", "/webhooks/nope", nil},
		{"an unknown receiver with a path token", "/webhooks/nope/" + pathToken, nil},
		{"a wrong token", "/webhooks/harbor", map[string]string{"Authorization": "guess"}},
		{"no token", "/webhooks/harbor", nil},
		{"a wrong signature", "/webhooks/gh", map[string]string{"X-Signature-256": sign("not-the-secret-at-all", push)}},
		{"a wrong path token", "/webhooks/hub/" + strings.ToLower(pathToken), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, hdr := answer(tt.path, tt.hdr)
			if code != wantCode || body != wantBody {
				t.Fatalf("got %d %s, want the unknown receiver's %d %s", code, body, wantCode, wantBody)
			}
			if fmt.Sprint(hdr) != fmt.Sprint(wantHeader) {
				t.Fatalf("headers %v differ from the unknown receiver's %v", hdr, wantHeader)
			}
		})
	}
}

// newLimitedServer is newTestServer with the limits of cfg.
func newLimitedServer(t *testing.T, cfg Config, pub Publisher, rcs ...ReceiverConfig) *echo.Echo {
	t.Helper()
	cfg.Receivers = rcs
	s, err := New(cfg, Options{Publisher: pub})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s.NewEcho()
}

// blockingBody is a request body that counts reads and blocks in Read
// until released: a handler that reads it before answering never answers.
type blockingBody struct {
	reads   atomic.Int32
	release chan struct{}
}

func newBlockingBody(t *testing.T) *blockingBody {
	b := &blockingBody{release: make(chan struct{})}
	t.Cleanup(func() { close(b.release) })
	return b
}

func (b *blockingBody) Read([]byte) (int, error) {
	b.reads.Add(1)
	<-b.release
	return 0, io.EOF
}

// serveWithin serves req and fails the test if no answer comes within a
// few seconds (the handler is stuck reading a blocking body).
func serveWithin(t *testing.T, e *echo.Echo, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
		return rec
	case <-time.After(5 * time.Second):
		t.Fatal("no answer within 5s: the handler waits for the body")
		return nil
	}
}

// TestAuthenticatesBeforeReadingTheBody sends bodies that never arrive:
// every refusal that does not need the body must come back anyway, with
// the body never read.
func TestAuthenticatesBeforeReadingTheBody(t *testing.T) {
	keys := newTestKeys(t)
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, jwksJSON(t, map[string]*rsa.PrivateKey{"k1": keys.k1}), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = "harbor-token-0123456789"
	recvs := []ReceiverConfig{
		{Name: "harbor", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthToken, Secrets: []string{token}}},
		{Name: "eb", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthBasic, User: "eventbridge", Secrets: []string{"eventbridge-password"}}},
		{Name: "hub", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthPathToken, Secrets: []string{pathToken}}},
		{Name: "gar", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthJWT, JWKSFile: jwksFile, Audience: "aud-1"}},
		{Name: "gh", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthHMAC, Secrets: []string{"gh-webhook-secret-1"}}},
	}
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 4096
	e := newLimitedServer(t, cfg, &memPublisher{}, recvs...)
	tests := []struct {
		name          string
		path          string
		header        map[string]string
		contentLength int64 // -1: unknown (chunked)
		wantCode      int
	}{
		{"a wrong token", "/webhooks/harbor", map[string]string{"Authorization": "guess"}, -1, 401},
		{"no token", "/webhooks/harbor", nil, -1, 401},
		{"a wrong Basic password", "/webhooks/eb", map[string]string{"Authorization": basic("eventbridge", "guess")}, -1, 401},
		{"a wrong path token", "/webhooks/hub/" + strings.ToLower(pathToken), nil, -1, 401},
		{"a forged JWT", "/webhooks/gar", map[string]string{"Authorization": "Bearer " + keys.mint(t, keys.k2, "k1", pubsubClaims(time.Now()))}, -1, 401},
		{"an unknown receiver", "/webhooks/nope", map[string]string{"Authorization": token}, -1, 401},
		{"the right token with a declared length over the budget", "/webhooks/harbor", map[string]string{"Authorization": token}, 1 << 20, 413},
		{"a signed receiver with a declared length over the budget", "/webhooks/gh", nil, 1 << 20, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := newBlockingBody(t)
			req := httptest.NewRequest(http.MethodPost, tt.path, body)
			req.ContentLength = tt.contentLength
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := serveWithin(t, e, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tt.wantCode, rec.Body)
			}
			if n := body.reads.Load(); n != 0 {
				t.Fatalf("the body was read %d times", n)
			}
			if rec.Header().Get("Connection") != "close" {
				t.Fatal("the connection is kept open for a body nobody will read")
			}
		})
	}
}

// blockingPublisher holds every Publish until released.
type blockingPublisher struct {
	memPublisher
	entered chan struct{}
	release chan struct{}
}

func (p *blockingPublisher) Publish(ctx context.Context, j scanjob.Job) (bool, error) {
	p.entered <- struct{}{}
	select {
	case <-p.release:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	return p.memPublisher.Publish(ctx, j)
}

// TestInFlightCap holds max_in_flight requests in the store; the next one
// is answered 503 with Retry-After at once, its body unread, and a slot
// freed is usable again.
func TestInFlightCap(t *testing.T) {
	const limit = 3
	pub := &blockingPublisher{entered: make(chan struct{}, 100), release: make(chan struct{})}
	cfg := DefaultConfig()
	cfg.MaxInFlight = limit
	e := newLimitedServer(t, cfg, pub, ReceiverConfig{Name: "r", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}})

	var wg sync.WaitGroup
	codes := make(chan int, limit)
	for range limit {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhooks/r", strings.NewReader(push)))
			codes <- rec.Code
		})
	}
	for range limit {
		<-pub.entered // each held request is in Publish
	}

	body := newBlockingBody(t)
	rec := serveWithin(t, e, httptest.NewRequest(http.MethodPost, "/webhooks/r", body))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("request %d: %d Retry-After %q, want 503 with Retry-After", limit+1, rec.Code, rec.Header().Get("Retry-After"))
	}
	if body.reads.Load() != 0 {
		t.Fatal("the refused request's body was read")
	}

	close(pub.release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusAccepted {
			t.Fatalf("a held request got %d, want 202", code)
		}
	}
	if code, _ := send(t, e, "/webhooks/r", strings.Replace(push, "1.0", "9.0", 1), nil); code != http.StatusAccepted {
		t.Fatalf("after the held requests finished: %d, want 202", code)
	}
}

// TestReceiverBodyBudget checks that a receiver's max_body_bytes
// overrides http.max_body_bytes, for what a signing receiver reads before
// it knows the sender.
func TestReceiverBodyBudget(t *testing.T) {
	const key = "gh-webhook-secret-1"
	recvs := []ReceiverConfig{
		{Name: "small", Format: "generic", Target: target, MaxBodyBytes: 1024, Auth: AuthConfig{Method: AuthHMAC, Prefix: "sha256=", Secrets: []string{key}}},
		{Name: "inherits", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthHMAC, Prefix: "sha256=", Secrets: []string{key}}},
	}
	e := newTestServer(t, &memPublisher{}, recvs...) // http.max_body_bytes 4096
	padded := func(n int) string { return push + strings.Repeat(" ", n-len(push)) }
	tests := []struct {
		name, path, body string
		wantCode         int
		wantReason       string
	}{
		{"2000 bytes are over the receiver's 1024", "/webhooks/small", padded(2000), 413, "body is over 1024 bytes"},
		{"1024 bytes fit the receiver's budget", "/webhooks/small", padded(1024), 202, ""},
		{"2000 bytes fit the http setting", "/webhooks/inherits", padded(2000), 202, ""},
		{"5000 bytes are over the http setting", "/webhooks/inherits", padded(5000), 413, "body is over 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ans := send(t, e, tt.path, tt.body, map[string]string{"X-Signature-256": sign(key, tt.body)})
			if code != tt.wantCode || ans.Reason != tt.wantReason {
				t.Fatalf("got %d %q, want %d %q", code, ans.Reason, tt.wantCode, tt.wantReason)
			}
		})
	}
	cfg := DefaultConfig()
	cfg.Receivers = []ReceiverConfig{{Name: "tiny", Format: "generic", Target: target, MaxBodyBytes: 512, Auth: AuthConfig{Method: AuthNone}}}
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "max_body_bytes 512") {
		t.Fatalf("a 512-byte budget: err = %v, want it refused", err)
	}
}
