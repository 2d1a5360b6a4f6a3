package handlers

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzAuthHeaders feeds arbitrary Authorization, signature, timestamp and
// id headers (and bodies) to every method's parser. None may panic or
// return an unclassified error, and none may accept unless the input
// really carries the credential: the token, the Basic pair, an HMAC of
// the body. A JWT can never pass, since the fuzzer holds no signing key.
//
//	go test ./handlers -run '^$' -fuzz FuzzAuthHeaders -fuzztime 60s
func FuzzAuthHeaders(f *testing.F) {
	keys := newTestKeys(f)
	jwksFile := filepath.Join(f.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, jwksJSON(f, map[string]*rsa.PrivateKey{"k1": keys.k1}), 0o600); err != nil {
		f.Fatal(err)
	}
	at := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(at.Unix(), 10)
	mk := func(c AuthConfig) verifier {
		v, err := newVerifier(c)
		if err != nil {
			f.Fatal(err)
		}
		v.(*authenticator).clock.now = func() time.Time { return at }
		return v
	}
	token := mk(AuthConfig{Method: AuthToken, Prefix: "Bearer ", Secrets: []string{"tok-1-0123456789ab", "tok-2-0123456789ab"}})
	basicV := mk(AuthConfig{Method: AuthBasic, User: "u", Secrets: []string{"password-1-0123456789"}})
	hmacV := mk(AuthConfig{Method: AuthHMAC, Header: "X-Hub-Signature-256", Prefix: "sha256=", Secrets: []string{"hmac-key-0123456789"}})
	stamped := mk(AuthConfig{Method: AuthHMAC, Header: "X-Hub-Signature-256", TimestampHeader: "X-Timestamp",
		SignedPayload: "{timestamp}.{body}", Encoding: "base64", Secrets: []string{"hmac-key-0123456789"}})
	stdwh := mk(AuthConfig{Method: AuthStandardWebhooks, Secrets: []string{whSecret}})
	jwtV := mk(AuthConfig{Method: AuthJWT, JWKSFile: jwksFile, Audience: "aud-1"})

	validJWT := keys.mint(f, keys.k1, "k1", pubsubClaims(at))
	body := []byte(push)
	f.Add("Bearer tok-1-0123456789ab", "sha256="+hex.EncodeToString(hmacSHA256("hmac-key-0123456789", push)), ts, "msg_1", body)
	f.Add(basic("u", "password-1-0123456789"), "v1,"+base64.StdEncoding.EncodeToString(hmacSHA256(string(whKey), "msg_1."+ts+"."+push)), ts, "msg_1", body)
	f.Add("Bearer "+validJWT, signStandard(whKey, "msg_1", at.Unix(), push)+" v1a,xx v1,", ts, "msg_1", body)
	f.Add("bearer  ", "sha256=", "-1", "", []byte{})
	f.Add("Basic dTo=", "v1,,v1 v1,====", "99999999999999999999", "a.b", []byte("{}"))

	f.Fuzz(func(t *testing.T, authz, sig, stamp, id string, body []byte) {
		h := http.Header{}
		h.Set("Authorization", authz)
		h.Set("X-Hub-Signature-256", sig)
		h.Set("X-Timestamp", stamp)
		h.Set("Webhook-Signature", sig)
		h.Set("Webhook-Timestamp", stamp)
		h.Set("Webhook-Id", id)
		// Header values as the server would see them: Set keeps bytes a
		// real request could not carry, which is fine for the parsers.
		authz, sig, stamp, id = h.Get("Authorization"), h.Get("X-Hub-Signature-256"), h.Get("X-Timestamp"), h.Get("Webhook-Id")
		r := authRequest{header: h, body: body}
		check := func(name string, v verifier, legit bool) {
			_, err := v.verify(t.Context(), r)
			if err != nil && !errors.Is(err, errUnauthorized) {
				t.Fatalf("%s: unclassified error %v", name, err)
			}
			if err == nil && !legit {
				t.Fatalf("%s accepted forged credentials: Authorization %q, signature %q, timestamp %q, id %q", name, authz, sig, stamp, id)
			}
		}
		check("token", token, authz == "Bearer tok-1-0123456789ab" || authz == "Bearer tok-2-0123456789ab")
		u, p, ok := (&http.Request{Header: h}).BasicAuth()
		check("basic", basicV, ok && u == "u" && p == "password-1-0123456789")
		got, err := hex.DecodeString(strings.TrimSpace(strings.TrimPrefix(sig, "sha256=")))
		check("hmac", hmacV, strings.HasPrefix(sig, "sha256=") && err == nil && hmac.Equal(got, hmacSHA256("hmac-key-0123456789", string(body))))
		got, err = base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
		check("hmac with timestamp", stamped, err == nil && hmac.Equal(got, hmacSHA256("hmac-key-0123456789", stamp+"."+string(body))))
		m := hmac.New(sha256.New, whKey)
		m.Write([]byte(id + "." + stamp + "."))
		m.Write(body)
		legit := false
		for _, e := range strings.Fields(sig) {
			b64, ok := strings.CutPrefix(e, "v1,")
			got, err := base64.StdEncoding.DecodeString(b64)
			legit = legit || (ok && err == nil && hmac.Equal(got, m.Sum(nil)))
		}
		check("standard-webhooks", stdwh, legit && id != "")
		// Only the one token signed with the test key may pass.
		tok, ok := bearerToken(authz)
		check("jwt", jwtV, ok && tok == validJWT)
	})
}
