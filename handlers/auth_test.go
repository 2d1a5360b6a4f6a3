package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// countingPublisher counts Publish calls, so a test can tell "nothing was
// published" from "published and deduplicated by the queue".
type countingPublisher struct {
	memPublisher
	calls atomic.Int32
}

func (p *countingPublisher) Publish(ctx context.Context, j scanjob.Job) (bool, error) {
	p.calls.Add(1)
	return p.memPublisher.Publish(ctx, j)
}

// fakeClock is a settable time source for the replay window, timestamps
// and the JWKS refresh interval.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newAuthServer builds a server whose log goes to log (nil: discarded) and
// whose receivers' verifiers read clk (nil: the real clock).
func newAuthServer(t *testing.T, pub Publisher, log *slog.Logger, clk *fakeClock, rcs ...ReceiverConfig) *echo.Echo {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 4096
	cfg.Receivers = rcs
	s, err := New(cfg, Options{Publisher: pub, Logger: log})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if clk != nil {
		for _, r := range s.snap.Load().receivers {
			r.auth.(*authenticator).clock.now = clk.now
		}
	}
	return s.NewEcho()
}

func hmacSHA256(key, msg string) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func hmacSHA1(key, msg string) []byte {
	m := hmac.New(sha1.New, []byte(key))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// signStandard signs like a Standard Webhooks sender.
func signStandard(key []byte, id string, ts int64, body string) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.%s", id, ts, body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

const (
	pathToken    = "Xq3v9Lr0pT8mWc2ZkD5yHn7sBf4gJa1e"
	pathTokenOld = "old-0123456789abcdefghijklmnopqrstuv"
)

var (
	whKey    = []byte("standard-webhooks-key-24b")
	whKeyOld = []byte("standard-webhooks-old-key")
	whSecret = "whsec_" + base64.StdEncoding.EncodeToString(whKey)
)

// TestAuthMethodsThroughTheRoute drives every method through Echo: the
// right credentials store the jobs; wrong, missing, expired or forged ones
// are 401 and nothing is published.
func TestAuthMethodsThroughTheRoute(t *testing.T) {
	keys := newTestKeys(t)
	jwksSrv := keys.serve(t, keys.k1)
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	old := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)

	recvs := []ReceiverConfig{
		{Name: "apikey", Format: "generic", Target: target,
			Auth: AuthConfig{Method: AuthToken, Header: "X-Api-Key", Secrets: []string{"ecr-api-key-0123456789"}}},
		{Name: "basic", Format: "generic", Target: target,
			Auth: AuthConfig{Method: AuthBasic, User: "eventbridge", Secrets: []string{"pw-new-0123456789", "pw-old-0123456789"}}},
		{Name: "github", Format: "generic", Target: target,
			Auth: AuthConfig{Method: AuthHMAC, Header: "X-Hub-Signature-256", Prefix: "sha256=", Secrets: []string{"gh-webhook-secret-1"}}},
		{Name: "nexus", Format: "generic", Target: target,
			Auth: AuthConfig{Method: AuthHMAC, Header: "X-Nexus-Webhook-Signature", Algorithm: "sha1", Secrets: []string{"nexus-secret-0001"}}},
		{Name: "stamped", Format: "generic", Target: target,
			Auth: AuthConfig{Method: AuthHMAC, Header: "X-Signature", TimestampHeader: "X-Timestamp",
				SignedPayload: "{timestamp}.{body}", Secrets: []string{"stamped-secret-01"}}},
		{Name: "idsigned", Format: "generic", Target: target,
			Auth: AuthConfig{Method: AuthHMAC, Header: "X-Signature", Encoding: "base64", TimestampHeader: "X-Timestamp",
				SignedPayload: "v0:{id}:{timestamp}:{body}", Secrets: []string{"idsigned-secret-1"}, Replay: ReplayConfig{IDHeader: "X-Delivery"}}},
		{Name: "stdwh", Format: "generic", Target: target,
			Auth: AuthConfig{Method: AuthStandardWebhooks, Secrets: []string{whSecret, base64.StdEncoding.EncodeToString(whKeyOld)}}},
		{Name: "pubsub", Format: "generic", Target: target,
			Auth: AuthConfig{Method: AuthJWT, JWKSURL: jwksSrv.URL, Audience: "https://bridge.example.com/webhooks/pubsub",
				Email: "push@proj.iam.gserviceaccount.com"}},
		{Name: "hub", Format: "generic", Target: target,
			Auth: AuthConfig{Method: AuthPathToken, Secrets: []string{pathToken, pathTokenOld}}},
	}
	goodClaims := func() map[string]any {
		return map[string]any{"iss": "https://accounts.google.com", "aud": "https://bridge.example.com/webhooks/pubsub",
			"email": "push@proj.iam.gserviceaccount.com", "email_verified": true, "sub": "1137",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) map[string]any {
		c := goodClaims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	tests := []struct {
		name, path string
		header     map[string]string
		body       string // default push
		wantCode   int
	}{
		{"an API key in its custom header is accepted", "/webhooks/apikey", map[string]string{"X-Api-Key": "ecr-api-key-0123456789"}, "", 202},
		{"an API key in Authorization instead is refused", "/webhooks/apikey", map[string]string{"Authorization": "ecr-api-key-0123456789"}, "", 401},

		{"basic with the current password is accepted", "/webhooks/basic", map[string]string{"Authorization": basic("eventbridge", "pw-new-0123456789")}, "", 202},
		{"basic with the previous password still works during rotation", "/webhooks/basic", map[string]string{"Authorization": basic("eventbridge", "pw-old-0123456789")}, "", 202},
		{"basic with a lower-case scheme is accepted", "/webhooks/basic", map[string]string{"Authorization": "basic " + base64.StdEncoding.EncodeToString([]byte("eventbridge:pw-new-0123456789"))}, "", 202},
		{"basic with a wrong password is refused", "/webhooks/basic", map[string]string{"Authorization": basic("eventbridge", "pw")}, "", 401},
		{"basic with another user is refused", "/webhooks/basic", map[string]string{"Authorization": basic("admin", "pw-new-0123456789")}, "", 401},
		{"basic credentials that are not base64 are refused", "/webhooks/basic", map[string]string{"Authorization": "Basic !!!"}, "", 401},
		{"a bearer token on a basic receiver is refused", "/webhooks/basic", map[string]string{"Authorization": "Bearer pw-new-0123456789"}, "", 401},
		{"basic without credentials is refused", "/webhooks/basic", nil, "", 401},

		{"a GitHub sha256= signature is accepted", "/webhooks/github", map[string]string{"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(hmacSHA256("gh-webhook-secret-1", push))}, "", 202},
		{"a GitHub signature in upper-case hex is accepted", "/webhooks/github", map[string]string{"X-Hub-Signature-256": "sha256=" + strings.ToUpper(hex.EncodeToString(hmacSHA256("gh-webhook-secret-1", push)))}, "", 202},
		{"a GitHub signature without its prefix is refused", "/webhooks/github", map[string]string{"X-Hub-Signature-256": hex.EncodeToString(hmacSHA256("gh-webhook-secret-1", push))}, "", 401},
		{"a GitHub sha1 signature in the sha256 header is refused", "/webhooks/github", map[string]string{"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(hmacSHA1("gh-webhook-secret-1", push))}, "", 401},

		{"a Nexus hex HMAC-SHA1 of the body is accepted", "/webhooks/nexus", map[string]string{"X-Nexus-Webhook-Signature": hex.EncodeToString(hmacSHA1("nexus-secret-0001", push))}, "", 202},
		{"a Nexus signature with another key is refused", "/webhooks/nexus", map[string]string{"X-Nexus-Webhook-Signature": hex.EncodeToString(hmacSHA1("other", push))}, "", 401},
		{"a Nexus request without signature is refused", "/webhooks/nexus", nil, "", 401},

		{"a fresh signed timestamp is accepted", "/webhooks/stamped", map[string]string{"X-Timestamp": ts, "X-Signature": hex.EncodeToString(hmacSHA256("stamped-secret-01", ts+"."+push))}, "", 202},
		{"a signed timestamp six minutes old is refused", "/webhooks/stamped", map[string]string{"X-Timestamp": old, "X-Signature": hex.EncodeToString(hmacSHA256("stamped-secret-01", old+"."+push))}, "", 401},
		{"a fresh timestamp on a signature of an old one is refused", "/webhooks/stamped", map[string]string{"X-Timestamp": ts, "X-Signature": hex.EncodeToString(hmacSHA256("stamped-secret-01", old+"."+push))}, "", 401},
		{"a signature of the body alone is refused when the timestamp is signed", "/webhooks/stamped", map[string]string{"X-Timestamp": ts, "X-Signature": hex.EncodeToString(hmacSHA256("stamped-secret-01", push))}, "", 401},
		{"a missing timestamp is refused", "/webhooks/stamped", map[string]string{"X-Signature": hex.EncodeToString(hmacSHA256("stamped-secret-01", "."+push))}, "", 401},
		{"a timestamp that is not Unix seconds is refused", "/webhooks/stamped", map[string]string{"X-Timestamp": now.Format(time.RFC3339), "X-Signature": hex.EncodeToString(hmacSHA256("stamped-secret-01", now.Format(time.RFC3339)+"."+push))}, "", 401},

		{"a signature over literal, id, timestamp and body is accepted", "/webhooks/idsigned", map[string]string{"X-Delivery": "d-1", "X-Timestamp": ts,
			"X-Signature": base64.StdEncoding.EncodeToString(hmacSHA256("idsigned-secret-1", "v0:d-1:"+ts+":"+push))}, "", 202},
		{"a signed id swapped for another is refused", "/webhooks/idsigned", map[string]string{"X-Delivery": "d-2", "X-Timestamp": ts,
			"X-Signature": base64.StdEncoding.EncodeToString(hmacSHA256("idsigned-secret-1", "v0:d-1:"+ts+":"+push))}, "", 401},
		{"a signed id left out is refused", "/webhooks/idsigned", map[string]string{"X-Timestamp": ts,
			"X-Signature": base64.StdEncoding.EncodeToString(hmacSHA256("idsigned-secret-1", "v0::"+ts+":"+push))}, "", 401},

		{"a Standard Webhooks signature is accepted", "/webhooks/stdwh", map[string]string{"webhook-id": "msg_1", "webhook-timestamp": ts, "webhook-signature": signStandard(whKey, "msg_1", now.Unix(), push)}, "", 202},
		{"the svix- header names are accepted", "/webhooks/stdwh", map[string]string{"svix-id": "msg_2", "svix-timestamp": ts, "svix-signature": signStandard(whKey, "msg_2", now.Unix(), push)}, "", 202},
		{"the second configured key is accepted (rotation on our side)", "/webhooks/stdwh", map[string]string{"webhook-id": "msg_3", "webhook-timestamp": ts, "webhook-signature": signStandard(whKeyOld, "msg_3", now.Unix(), push)}, "", 202},
		{"one valid entry among several is accepted (rotation on the sender's side)", "/webhooks/stdwh", map[string]string{"webhook-id": "msg_4", "webhook-timestamp": ts,
			"webhook-signature": signStandard([]byte("unknown-key"), "msg_4", now.Unix(), push) + " v1a,AAAA " + signStandard(whKey, "msg_4", now.Unix(), push)}, "", 202},
		{"a Standard Webhooks signature with another key is refused", "/webhooks/stdwh", map[string]string{"webhook-id": "msg_5", "webhook-timestamp": ts, "webhook-signature": signStandard([]byte("unknown-key"), "msg_5", now.Unix(), push)}, "", 401},
		{"a signature made for another id is refused", "/webhooks/stdwh", map[string]string{"webhook-id": "msg_6", "webhook-timestamp": ts, "webhook-signature": signStandard(whKey, "msg_other", now.Unix(), push)}, "", 401},
		{"a Standard Webhooks timestamp six minutes old is refused", "/webhooks/stdwh", map[string]string{"webhook-id": "msg_7", "webhook-timestamp": old, "webhook-signature": signStandard(whKey, "msg_7", now.Add(-6*time.Minute).Unix(), push)}, "", 401},
		{"a Standard Webhooks timestamp six minutes ahead is refused", "/webhooks/stdwh", map[string]string{"webhook-id": "msg_8", "webhook-timestamp": strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10), "webhook-signature": signStandard(whKey, "msg_8", now.Add(6*time.Minute).Unix(), push)}, "", 401},
		{"a Standard Webhooks request without id is refused", "/webhooks/stdwh", map[string]string{"webhook-timestamp": ts, "webhook-signature": signStandard(whKey, "", now.Unix(), push)}, "", 401},
		{"only an asymmetric v1a entry is refused", "/webhooks/stdwh", map[string]string{"webhook-id": "msg_9", "webhook-timestamp": ts, "webhook-signature": "v1a," + base64.StdEncoding.EncodeToString(hmacSHA256(string(whKey), "msg_9."+ts+"."+push))}, "", 401},
		{"a Standard Webhooks body changed after signing is refused", "/webhooks/stdwh", map[string]string{"webhook-id": "msg_10", "webhook-timestamp": ts, "webhook-signature": signStandard(whKey, "msg_10", now.Unix(), push)}, strings.Replace(push, "1.0", "6.6", 1), 401},

		{"a Google-signed push token is accepted", "/webhooks/pubsub", bearer(keys.mint(t, keys.k1, "k1", goodClaims())), "", 202},
		{"the issuer without https is accepted as Google documents", "/webhooks/pubsub", bearer(keys.mint(t, keys.k1, "k1", with("iss", "accounts.google.com"))), "", 202},
		{"an expired token is refused", "/webhooks/pubsub", bearer(keys.mint(t, keys.k1, "k1", with("exp", now.Add(-time.Minute).Unix()))), "", 401},
		{"a token without exp is refused", "/webhooks/pubsub", bearer(keys.mint(t, keys.k1, "k1", with("exp", nil))), "", 401},
		{"a token not valid yet is refused", "/webhooks/pubsub", bearer(keys.mint(t, keys.k1, "k1", with("nbf", now.Add(10*time.Minute).Unix()))), "", 401},
		{"a token issued in the future is refused", "/webhooks/pubsub", bearer(keys.mint(t, keys.k1, "k1", with("iat", now.Add(10*time.Minute).Unix()))), "", 401},
		{"a token for another audience is refused", "/webhooks/pubsub", bearer(keys.mint(t, keys.k1, "k1", with("aud", "https://other.example.com"))), "", 401},
		{"a token from another issuer is refused", "/webhooks/pubsub", bearer(keys.mint(t, keys.k1, "k1", with("iss", "https://evil.example.com"))), "", 401},
		{"a token of another service account is refused", "/webhooks/pubsub", bearer(keys.mint(t, keys.k1, "k1", with("email", "intruder@proj.iam.gserviceaccount.com"))), "", 401},
		{"a token whose email is not verified is refused", "/webhooks/pubsub", bearer(keys.mint(t, keys.k1, "k1", with("email_verified", false))), "", 401},
		{"a token signed by another key under a known kid is refused", "/webhooks/pubsub", bearer(keys.mint(t, keys.k2, "k1", goodClaims())), "", 401},
		{"a token without kid is refused", "/webhooks/pubsub", bearer(keys.mint(t, keys.k1, "", goodClaims())), "", 401},
		{"an HS256 token keyed with the public key is refused", "/webhooks/pubsub", bearer(keys.mintHS256(t, goodClaims())), "", 401},
		{"an unsigned alg none token is refused", "/webhooks/pubsub", bearer(keys.mintNone(t, goodClaims())), "", 401},
		{"a token in Basic clothing is refused", "/webhooks/pubsub", map[string]string{"Authorization": "Basic " + keys.mint(t, keys.k1, "k1", goodClaims())}, "", 401},
		{"garbage for a token is refused", "/webhooks/pubsub", bearer("a.b.c"), "", 401},
		{"no token is refused", "/webhooks/pubsub", nil, "", 401},

		{"the path token is accepted", "/webhooks/hub/" + pathToken, nil, "", 202},
		{"the previous path token still works during rotation", "/webhooks/hub/" + pathTokenOld, nil, "", 202},
		{"a wrong path token is refused", "/webhooks/hub/" + strings.Replace(pathToken, "X", "Y", 1), nil, "", 401},
		{"a path token receiver without the token is refused", "/webhooks/hub", nil, "", 401},
		{"a path token sent as a header is refused", "/webhooks/hub", map[string]string{"Authorization": pathToken}, "", 401},
		{"a token in the path of a header-token receiver is refused", "/webhooks/apikey/ecr-api-key-0123456789", map[string]string{"X-Api-Key": "ecr-api-key-0123456789"}, "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &countingPublisher{}
			e := newAuthServer(t, pub, nil, nil, recvs...)
			body := tt.body
			if body == "" {
				body = push
			}
			code, ans := send(t, e, tt.path, body, tt.header)
			if code != tt.wantCode {
				t.Fatalf("status = %d, want %d (answer %+v)", code, tt.wantCode, ans)
			}
			if tt.wantCode == 401 {
				if n := pub.calls.Load(); n != 0 {
					t.Fatalf("a refused request published %d jobs", n)
				}
				if ans.Reason != errUnauthorized.Error() {
					t.Fatalf("refusal reason %q tells more than %q", ans.Reason, errUnauthorized.Error())
				}
			} else if pub.stored() != 2 {
				t.Fatalf("stored %d jobs, want 2", pub.stored())
			}
		})
	}
}

// TestGitHubSignatureKnownAnswer checks the hmac method against the test
// values GitHub publishes for validating deliveries:
// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
func TestGitHubSignatureKnownAnswer(t *testing.T) {
	v, err := newVerifier(AuthConfig{Method: AuthHMAC, Header: "X-Hub-Signature-256", Prefix: "sha256=",
		Secrets: []string{"It's a Secret to Everybody"}})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"X-Hub-Signature-256": {"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}}
	if _, err := v.verify(t.Context(), authRequest{header: h, body: []byte("Hello, World!")}); err != nil {
		t.Fatalf("GitHub's published signature was refused: %v", err)
	}
	if _, err := v.verify(t.Context(), authRequest{header: h, body: []byte("Hello, World?")}); !errors.Is(err, errUnauthorized) {
		t.Fatalf("another body: err = %v, want errUnauthorized", err)
	}
}

// TestStandardWebhooksKnownAnswer checks the standard-webhooks method
// against the signing vector of the spec's Go library:
// https://github.com/standard-webhooks/standard-webhooks/blob/main/libraries/go/webhook_symmetric_test.go
// (TestSymmetricWebhookSign), with the clock at the signed time.
func TestStandardWebhooksKnownAnswer(t *testing.T) {
	const sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	tests := []struct {
		name    string
		secret  string
		clockAt int64
		wantErr bool
	}{
		{"the published signature verifies with the whsec_ secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1614265330, false},
		{"the secret without its prefix works too", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1614265330, false},
		{"the same request five minutes and a second later is refused", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1614265330 + 301, true},
		{"the request exactly at the tolerance is accepted", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1614265330 + 300, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := newVerifier(AuthConfig{Method: AuthStandardWebhooks, Secrets: []string{tt.secret}})
			if err != nil {
				t.Fatal(err)
			}
			v.(*authenticator).clock.now = func() time.Time { return time.Unix(tt.clockAt, 0) }
			h := http.Header{"Webhook-Id": {"msg_p5jXN8AQM9LWM0D4loKWxJek"}, "Webhook-Timestamp": {"1614265330"}, "Webhook-Signature": {sig}}
			d, err := v.verify(t.Context(), authRequest{header: h, body: []byte(`{"test": 2432232314}`)})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %t", err, tt.wantErr)
			}
			if err == nil && d.id != "msg_p5jXN8AQM9LWM0D4loKWxJek" {
				t.Fatalf("delivery id = %q, want webhook-id", d.id)
			}
		})
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	badJWKS := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(badJWKS, []byte(`{"keys":[{"kty":"EC","kid":"e"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  AuthConfig
		want string
	}{
		{"basic without user", AuthConfig{Method: AuthBasic, Secrets: []string{"password-0123456789"}}, "needs user"},
		{"basic with a colon in the user", AuthConfig{Method: AuthBasic, User: "a:b", Secrets: []string{"password-0123456789"}}, "':'"},
		{"basic without password", AuthConfig{Method: AuthBasic, User: "u"}, "at least one secret"},
		{"a short path token", AuthConfig{Method: AuthPathToken, Secrets: []string{"short"}}, "at least 32"},
		{"a path token with a slash", AuthConfig{Method: AuthPathToken, Secrets: []string{strings.Repeat("a", 32) + "/b"}}, "A-Z a-z 0-9"},
		{"jwt without audience", AuthConfig{Method: AuthJWT, JWKSURL: "https://keys.example.com"}, "audience"},
		{"jwt without key set", AuthConfig{Method: AuthJWT, Audience: "a"}, "exactly one of jwks_file and jwks_url"},
		{"jwt with both key sets", AuthConfig{Method: AuthJWT, Audience: "a", JWKSFile: badJWKS, JWKSURL: "https://keys.example.com"}, "exactly one"},
		{"jwt keys over plain http elsewhere than loopback", AuthConfig{Method: AuthJWT, Audience: "a", JWKSURL: "http://keys.example.com/certs"}, "use https"},
		{"jwt with a key file without RSA keys", AuthConfig{Method: AuthJWT, Audience: "a", JWKSFile: badJWKS}, "no RSA signing key"},
		{"jwt with secrets", AuthConfig{Method: AuthJWT, Audience: "a", JWKSFile: badJWKS, Secrets: []string{"token-0123456789ab"}}, "uses none"},
		{"a timestamp header without signed payload", AuthConfig{Method: AuthHMAC, TimestampHeader: "X-T", Secrets: []string{"hmac-key-0123456789"}}, "unsigned timestamp"},
		{"a timestamp header the payload does not sign", AuthConfig{Method: AuthHMAC, TimestampHeader: "X-T", SignedPayload: "{body}", Secrets: []string{"hmac-key-0123456789"}}, "{timestamp} exactly when"},
		{"a signed payload without body", AuthConfig{Method: AuthHMAC, SignedPayload: "x", Secrets: []string{"hmac-key-0123456789"}}, "{body} must occur exactly once"},
		{"a signed payload with an unknown placeholder", AuthConfig{Method: AuthHMAC, SignedPayload: "{nonce}.{body}", Secrets: []string{"hmac-key-0123456789"}}, "unknown placeholder {nonce}"},
		{"a signed payload with an unclosed placeholder", AuthConfig{Method: AuthHMAC, SignedPayload: "{body}.{id", Secrets: []string{"hmac-key-0123456789"}}, "unclosed"},
		{"a signed id without id header", AuthConfig{Method: AuthHMAC, SignedPayload: "{id}.{body}", Secrets: []string{"hmac-key-0123456789"}}, "replay.id_header"},
		{"a window under twice the tolerance", AuthConfig{Method: AuthStandardWebhooks, Secrets: []string{whSecret},
			Replay: ReplayConfig{Tolerance: 10 * time.Minute, Window: 15 * time.Minute}}, "under 2 × replay.tolerance"},
		{"a tolerance without a signed timestamp", AuthConfig{Method: AuthToken, Secrets: []string{"token-0123456789ab"}, Replay: ReplayConfig{Tolerance: time.Minute}}, "checks no signed timestamp"},
		{"a window without an id", AuthConfig{Method: AuthToken, Secrets: []string{"token-0123456789ab"}, Replay: ReplayConfig{Window: time.Minute}}, "no delivery id"},
		{"a standard-webhooks secret that is not base64", AuthConfig{Method: AuthStandardWebhooks, Secrets: []string{"whsec_***"}}, "not whsec_ followed by base64"},
		{"an id header on standard-webhooks, which has its own", AuthConfig{Method: AuthStandardWebhooks, Secrets: []string{whSecret}, Replay: ReplayConfig{IDHeader: "X-Id"}}, "replay.id_header: not used"},
		{"a user on a token receiver", AuthConfig{Method: AuthToken, User: "u", Secrets: []string{"token-0123456789ab"}}, "user: not used by method token"},
		{"an audience on an hmac receiver", AuthConfig{Method: AuthHMAC, Audience: "a", Secrets: []string{"token-0123456789ab"}}, "audience: not used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newVerifier(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("newVerifier() error = %v, want it to mention %q", err, tt.want)
			}
			for _, s := range tt.cfg.Secrets {
				if len(s) > 3 && strings.Contains(err.Error(), s) {
					t.Fatalf("the error quotes a secret: %v", err)
				}
			}
		})
	}
}

func TestStartupWarnings(t *testing.T) {
	tests := []struct {
		name     string
		auth     AuthConfig
		wantWarn string
	}{
		{"a path-token receiver is warned about", AuthConfig{Method: AuthPathToken, Secrets: []string{pathToken}}, "protected only by an unguessable URL; keep it out of logs and rotate it"},
		{"a receiver without auth is warned about", AuthConfig{Method: AuthNone}, "accepts unauthenticated webhooks"},
		{"a signed receiver is not", AuthConfig{Method: AuthHMAC, Secrets: []string{"hmac-key-0123456789"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			newAuthServer(t, &memPublisher{}, slog.New(slog.NewTextHandler(&buf, nil)), nil,
				ReceiverConfig{Name: "r", Format: "generic", Target: target, Auth: tt.auth})
			out := buf.String()
			if tt.wantWarn == "" {
				if strings.Contains(out, "level=WARN") {
					t.Fatalf("unexpected warning: %s", out)
				}
				return
			}
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, tt.wantWarn) || !strings.Contains(out, "receiver=r") {
				t.Fatalf("log %q lacks the warning %q for receiver r", out, tt.wantWarn)
			}
			if strings.Contains(out, pathToken) {
				t.Fatal("the startup warning prints the token")
			}
		})
	}
}

// TestPathTokenIsNeverLogged sends accepted, refused and failing requests
// to a path-token receiver with debug logging and checks that neither the
// log nor the answers carry the token: the bridge logs no paths.
func TestPathTokenIsNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pub := &memPublisher{}
	e := newAuthServer(t, pub, log, nil, ReceiverConfig{Name: "hub", Format: "generic", Target: target,
		Auth: AuthConfig{Method: AuthPathToken, Secrets: []string{pathToken}}})
	wrong := strings.ToLower(pathToken)
	var answers []string
	for _, req := range []struct{ path, body string }{
		{"/webhooks/hub/" + pathToken, push},
		{"/webhooks/hub/" + pathToken, `not json`},
		{"/webhooks/hub/" + wrong, push},
		{"/webhooks/nope/" + pathToken, push},
	} {
		code, ans := send(t, e, req.path, req.body, nil)
		answers = append(answers, fmt.Sprintf("%d %+v", code, ans))
	}
	pub.fail = errors.New("nats: timeout")
	code, ans := send(t, e, "/webhooks/hub/"+pathToken, strings.Replace(push, "1.0", "2.0", 1), nil)
	answers = append(answers, fmt.Sprintf("%d %+v", code, ans))

	if !strings.Contains(buf.String(), "job stored") || !strings.Contains(buf.String(), "webhook refused") {
		t.Fatalf("the requests were not logged as expected: %s", buf.String())
	}
	for _, secret := range []string{pathToken, wrong} {
		if strings.Contains(buf.String(), secret) {
			t.Fatalf("the log carries a path token:\n%s", buf.String())
		}
		if joined := strings.Join(answers, "\n"); strings.Contains(joined, secret) {
			t.Fatalf("an answer carries a path token:\n%s", joined)
		}
	}
}
