package handlers

import (
	"crypto/rsa"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkVerify is the cost of one credential check per method, on the
// two-event generic body, with the replay memory in use where the method
// has one. It is the auth share of BenchmarkWebhookHarbor's total.
func BenchmarkVerify(b *testing.B) {
	keys := newTestKeys(b)
	jwksFile := filepath.Join(b.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, jwksJSON(b, map[string]*rsa.PrivateKey{"k1": keys.k1}), 0o600); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(push)
	cases := []struct {
		name   string
		cfg    AuthConfig
		header http.Header
	}{
		{"token", AuthConfig{Method: AuthToken, Secrets: []string{"secret-1-0123456789", "secret-2-0123456789"}},
			http.Header{"Authorization": {"secret-2-0123456789"}}},
		{"basic", AuthConfig{Method: AuthBasic, User: "u", Secrets: []string{"password-1-0123456789", "password-2-0123456789"}},
			http.Header{"Authorization": {basic("u", "password-2-0123456789")}}},
		{"hmac-sha256 github", AuthConfig{Method: AuthHMAC, Header: "X-Hub-Signature-256", Prefix: "sha256=", Secrets: []string{"hmac-key-0123456789"},
			Replay: ReplayConfig{IDHeader: "X-GitHub-Delivery"}},
			http.Header{"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(hmacSHA256("hmac-key-0123456789", push))}, "X-Github-Delivery": {"d-1"}}},
		{"standard-webhooks", AuthConfig{Method: AuthStandardWebhooks, Secrets: []string{whSecret}},
			http.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {signStandard(whKey, "msg_1", now.Unix(), push)}}},
		{"jwt rs256", AuthConfig{Method: AuthJWT, JWKSFile: jwksFile, Audience: "aud-1"},
			http.Header{"Authorization": {"Bearer " + keys.mint(b, keys.k1, "k1", pubsubClaims(now))}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			v, err := newVerifier(c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			r := authRequest{header: c.header, body: body}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.verify(b.Context(), r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
