package handlers

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testKeys are RSA keys made once per test binary (2048-bit generation is
// the slow part of these tests).
type testKeys struct {
	k1, k2, k3 *rsa.PrivateKey
}

var (
	testKeysOnce sync.Once
	testKeysVal  *testKeys
	testKeysErr  error
)

func newTestKeys(t testing.TB) *testKeys {
	t.Helper()
	testKeysOnce.Do(func() {
		k := &testKeys{}
		for _, p := range []**rsa.PrivateKey{&k.k1, &k.k2, &k.k3} {
			if *p, testKeysErr = rsa.GenerateKey(rand.Reader, 2048); testKeysErr != nil {
				return
			}
		}
		testKeysVal = k
	})
	if testKeysErr != nil {
		t.Fatalf("generate RSA keys: %v", testKeysErr)
	}
	return testKeysVal
}

// jwksJSON is the key set of keys by kid, as Google publishes its own.
func jwksJSON(t testing.TB, keys map[string]*rsa.PrivateKey) []byte {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	kids := make([]string, 0, len(keys))
	for kid := range keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	for _, kid := range kids {
		pub := keys[kid].PublicKey
		set.Keys = append(set.Keys, map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwksServer serves a key set on loopback and counts fetches.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int32
	mu   sync.Mutex
	body []byte // nil: answer 500
}

func (s *jwksServer) set(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

// serve starts a JWKS server with k1 under kid "k1".
func (k *testKeys) serve(t testing.TB, first *rsa.PrivateKey) *jwksServer {
	t.Helper()
	s := &jwksServer{body: jwksJSON(t, map[string]*rsa.PrivateKey{"k1": first})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body := s.body
		s.mu.Unlock()
		if body == nil {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (k *testKeys) mint(t testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(claims))
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mintHS256 forges the classic algorithm confusion: an HMAC keyed with the
// public key, which a verifier trusting the token's alg would accept.
func (k *testKeys) mintHS256(t testing.TB, claims map[string]any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.k1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims))
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(der)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (k *testKeys) mintNone(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(claims))
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pubsubClaims(now time.Time) map[string]any {
	return map[string]any{"iss": "https://accounts.google.com", "aud": "aud-1", "email": "push@p.iam.gserviceaccount.com",
		"email_verified": true, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// TestJWKSRefresh walks one key set through rotation, made-up key ids,
// an outage and a withdrawn key, with a fake clock. Each step depends on
// the ones before it.
func TestJWKSRefresh(t *testing.T) {
	keys := newTestKeys(t)
	srv := keys.serve(t, keys.k1)
	clk := newFakeClock()
	v, err := newVerifier(AuthConfig{Method: AuthJWT, JWKSURL: srv.URL, Audience: "aud-1"})
	if err != nil {
		t.Fatal(err)
	}
	v.(*authenticator).clock.now = clk.now

	type outcome int
	const (
		accepted outcome = iota
		refused
		unavailable
	)
	steps := []struct {
		name     string
		before   func()
		key      *rsa.PrivateKey
		kid      string
		want     outcome
		wantHits int32
	}{
		{"the first token fetches the set", nil, keys.k1, "k1", accepted, 1},
		{"a known key id is served from the cache", nil, keys.k1, "k1", accepted, 1},
		{"a rotated-in key id makes the set be fetched again", func() {
			srv.set(jwksJSON(t, map[string]*rsa.PrivateKey{"k1": keys.k1, "k2": keys.k2}))
			clk.advance(10 * time.Minute)
		}, keys.k2, "k2", accepted, 2},
		{"a made-up key id within the minute fetches nothing and is refused", nil, keys.k3, "k3", refused, 2},
		{"a made-up key id a minute later is looked up once more and refused", func() { clk.advance(61 * time.Second) }, keys.k3, "k3", refused, 3},
		{"during a key server outage a cached key still works", func() { srv.set(nil); clk.advance(61 * time.Second) }, keys.k1, "k1", accepted, 3},
		{"a cached key still works when the hourly refetch fails", func() { clk.advance(time.Hour) }, keys.k1, "k1", accepted, 4},
		{"an unknown key id during the outage is unavailable, not refused", func() { clk.advance(61 * time.Second) }, keys.k3, "k3", unavailable, 5},
		{"a key the issuer withdrew is refused after the next hourly fetch", func() {
			srv.set(jwksJSON(t, map[string]*rsa.PrivateKey{"k2": keys.k2}))
			clk.advance(time.Hour)
		}, keys.k1, "k1", refused, 6},
		{"the remaining key is accepted from the new set", nil, keys.k2, "k2", accepted, 6},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		tok := keys.mint(t, st.key, st.kid, pubsubClaims(clk.now()))
		_, err := v.verify(t.Context(), authRequest{header: http.Header{"Authorization": {"Bearer " + tok}}})
		got := accepted
		switch {
		case errors.Is(err, errAuthUnavailable):
			got = unavailable
		case errors.Is(err, errUnauthorized):
			got = refused
		case err != nil:
			t.Fatalf("%s: unclassified error %v", st.name, err)
		}
		if got != st.want {
			t.Fatalf("%s: outcome %d (err %v), want %d", st.name, got, err, st.want)
		}
		if h := srv.hits.Load(); h != st.wantHits {
			t.Fatalf("%s: %d fetches so far, want %d", st.name, h, st.wantHits)
		}
	}
}

// TestJWKSUnreachableIs503 checks that a key set the bridge cannot fetch
// makes the sender retry (503) instead of blaming it (401), with nothing
// published.
func TestJWKSUnreachableIs503(t *testing.T) {
	keys := newTestKeys(t)
	srv := keys.serve(t, keys.k1)
	srv.set(nil)
	pub := &countingPublisher{}
	e := newAuthServer(t, pub, nil, nil, ReceiverConfig{Name: "gar", Format: "generic", Target: target,
		Auth: AuthConfig{Method: AuthJWT, JWKSURL: srv.URL, Audience: "aud-1"}})
	tok := keys.mint(t, keys.k1, "k1", pubsubClaims(time.Now()))
	code, ans := send(t, e, "/webhooks/gar", push, map[string]string{"Authorization": "Bearer " + tok})
	if code != http.StatusServiceUnavailable || !strings.Contains(ans.Reason, "retry") {
		t.Fatalf("got %d %+v, want 503 asking for a retry", code, ans)
	}
	if pub.calls.Load() != 0 {
		t.Fatal("a request that could not be authenticated was published")
	}
}

func TestJWKSFile(t *testing.T) {
	keys := newTestKeys(t)
	f := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(f, jwksJSON(t, map[string]*rsa.PrivateKey{"k1": keys.k1}), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := newVerifier(AuthConfig{Method: AuthJWT, JWKSFile: f, Audience: "aud-1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     *rsa.PrivateKey
		wantErr bool
	}{
		{"a token signed by the file's key is accepted", keys.k1, false},
		{"a token signed by another key is refused", keys.k2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := keys.mint(t, tt.key, "k1", pubsubClaims(time.Now()))
			_, err := v.verify(t.Context(), authRequest{header: http.Header{"Authorization": {"Bearer " + tok}}})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %t", err, tt.wantErr)
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	keys := newTestKeys(t)
	good := jwksJSON(t, map[string]*rsa.PrivateKey{"good": keys.k1})
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(good, &set); err != nil {
		t.Fatal(err)
	}
	g := set.Keys[0]
	small := append([]byte{0xc1}, make([]byte, 127)...) // a 1024-bit modulus
	variant := func(kid string, change map[string]string) map[string]string {
		k := map[string]string{}
		for n, v := range g {
			k[n] = v
		}
		k["kid"] = kid
		for n, v := range change {
			k[n] = v
		}
		return k
	}
	set.Keys = append(set.Keys,
		variant("ec", map[string]string{"kty": "EC"}),
		variant("enc", map[string]string{"use": "enc"}),
		variant("ps256", map[string]string{"alg": "PS256"}),
		variant("small", map[string]string{"n": base64.RawURLEncoding.EncodeToString(small)}),
		variant("even-e", map[string]string{"e": "AQAA"}),
		variant("bad-n", map[string]string{"n": "***"}),
		variant("", nil),
		variant("padded", map[string]string{"n": base64.URLEncoding.EncodeToString(keys.k2.N.Bytes())}),
	)
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["good"] == nil || got["padded"] == nil {
		t.Fatalf("parsed kids %v, want only good and padded", keysOf(got))
	}
	if got["good"].N.Cmp(keys.k1.N) != 0 || got["good"].E != keys.k1.E {
		t.Fatal("the parsed key differs from the published one")
	}
	if _, err := parseJWKS([]byte(`{"keys":[]}`)); err == nil {
		t.Fatal("an empty set was accepted")
	}
	if _, err := parseJWKS([]byte(`<html>`)); err == nil {
		t.Fatal("HTML was accepted as a key set")
	}
}

func keysOf(m map[string]*rsa.PublicKey) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
