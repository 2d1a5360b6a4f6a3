package handlers

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtAuth verifies a bearer JWT the sender's identity provider signed:
// Google Pub/Sub push subscriptions with authentication send an OIDC ID
// token, RS256, signed by Google, with the subscription's audience and
// service account:
// https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions
//
// Signature and registered claims are golang-jwt's (only RS256 is
// accepted, so neither "none" nor an HMAC keyed with the public key can
// pass); the key set is this file's, since golang-jwt reads no JWKS.
type jwtAuth struct {
	keys     *jwks
	parser   *jwt.Parser
	issuers  []string
	audience string
	email    string
}

const (
	googleIssuer = "https://accounts.google.com"
	// jwtLeeway absorbs clock skew on exp, nbf and iat.
	jwtLeeway = 30 * time.Second
)

// oidcClaims are the claims of a Google-signed ID token that are checked.
type oidcClaims struct {
	jwt.RegisteredClaims
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

func newJWTAuth(c AuthConfig, clk *clock) (*jwtAuth, error) {
	if c.Audience == "" {
		return nil, errors.New("jwt auth needs audience (the audience of the push subscription)")
	}
	a := &jwtAuth{audience: c.Audience, email: c.Email, issuers: []string{c.Issuer}}
	if c.Issuer == "" || c.Issuer == googleIssuer {
		// Google documents both forms for its ID tokens:
		// https://developers.google.com/identity/openid-connect/openid-connect#validatinganidtoken
		a.issuers = []string{googleIssuer, "accounts.google.com"}
	}
	a.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithAudience(c.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(func() time.Time { return clk.now() }),
	)
	switch {
	case (c.JWKSFile == "") == (c.JWKSURL == ""):
		return nil, errors.New("jwt auth needs exactly one of jwks_file and jwks_url")
	case c.JWKSFile != "":
		a.keys = &jwks{source: "jwks_file " + c.JWKSFile, clock: clk,
			load: func(context.Context) ([]byte, error) { return os.ReadFile(c.JWKSFile) }}
		// A file is read now, so a bad one stops the start.
		if err := a.keys.refresh(context.Background()); err != nil {
			return nil, err
		}
		a.keys.tried = clk.now()
	default:
		if err := checkJWKSURL(c.JWKSURL); err != nil {
			return nil, err
		}
		client := &http.Client{Timeout: jwksFetchTimeout, CheckRedirect: refuseRedirect}
		a.keys = &jwks{source: "jwks_url " + c.JWKSURL, clock: clk, load: httpJWKS(client, c.JWKSURL)}
	}
	return a, nil
}

// checkJWKSURL accepts https, and http only to a loopback address (a local
// key cache): keys fetched in clear from elsewhere could be anyone's.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("jwks_url %q is not an absolute URL", raw)
	}
	if u.Scheme == "https" {
		return nil
	}
	ip := net.ParseIP(u.Hostname())
	if u.Scheme == "http" && (u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())) {
		return nil
	}
	return fmt.Errorf("jwks_url %q: use https (http only to a loopback address)", raw)
}

func (a *jwtAuth) check(ctx context.Context, r authRequest) (proof, error) {
	raw, ok := bearerToken(r.header.Get("Authorization"))
	if !ok {
		return proof{}, fmt.Errorf("%w: no Bearer token in Authorization", errUnauthorized)
	}
	var claims oidcClaims
	_, err := a.parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token names no key id (kid)")
		}
		return a.keys.key(ctx, kid)
	})
	switch {
	case errors.Is(err, errAuthUnavailable):
		return proof{}, err
	case err != nil:
		return proof{}, fmt.Errorf("%w: jwt: %w", errUnauthorized, err)
	case !slices.Contains(a.issuers, claims.Issuer):
		return proof{}, fmt.Errorf("%w: jwt issuer %.80q is not %s", errUnauthorized, claims.Issuer, strings.Join(a.issuers, " or "))
	case a.email != "" && (claims.Email != a.email || !claims.EmailVerified):
		return proof{}, fmt.Errorf("%w: jwt email %.80q (verified %t) is not %s", errUnauthorized, claims.Email, claims.EmailVerified, a.email)
	}
	return proof{}, nil
}

// bearerToken returns the token of an RFC 6750 "Bearer <token>" value; the
// scheme is case-insensitive (RFC 7235 §2.1).
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

const (
	// jwksFetchTimeout bounds one fetch of a JWKS URL.
	jwksFetchTimeout = 10 * time.Second
	// jwksMinInterval is the least time between two fetches, so tokens
	// with made-up key ids cannot make the bridge hammer the key server.
	jwksMinInterval = time.Minute
	// jwksMaxAge is how long a fetched set is used before it is fetched
	// again, so a key the issuer withdrew stops being accepted.
	jwksMaxAge = time.Hour
	// maxJWKSBytes bounds a key set (Google's is about 2 KiB).
	maxJWKSBytes = 1 << 20
)

// jwks is a cached JSON Web Key Set of RSA signing keys. A key id it does
// not know, or a set over jwksMaxAge, makes it load the set again, at most
// once per jwksMinInterval. When loading fails, the keys it has stay in
// use (a key server outage does not stop intake); with none, or without
// the token's key, the answer is errAuthUnavailable. Safe for concurrent
// use: one load at a time, the others wait for its result.
type jwks struct {
	source string
	load   func(context.Context) ([]byte, error)
	clock  *clock

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time // last successful load
	tried   time.Time // last attempt
}

func (k *jwks) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.clock.now()
	key, ok := k.keys[kid]
	if ok && now.Sub(k.fetched) < jwksMaxAge {
		return key, nil
	}
	var loadErr error
	if k.tried.IsZero() || now.Sub(k.tried) >= jwksMinInterval {
		k.tried = now
		if loadErr = k.refresh(ctx); loadErr == nil {
			key, ok = k.keys[kid]
		}
	}
	switch {
	case ok:
		return key, nil
	case loadErr != nil:
		return nil, fmt.Errorf("%w: %w", errAuthUnavailable, loadErr)
	case k.fetched.IsZero():
		return nil, fmt.Errorf("%w: %s not loaded yet; next attempt within %s", errAuthUnavailable, k.source, jwksMinInterval)
	}
	return nil, fmt.Errorf("no key with id %.80q in %s", kid, k.source)
}

// refresh loads and parses the set; the caller holds mu (or is the
// constructor).
func (k *jwks) refresh(ctx context.Context) error {
	// The load outlives the request that caused it: the others waiting on
	// mu want its result even if that client went away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	data, err := k.load(ctx)
	if err != nil {
		return fmt.Errorf("load %s: %w", k.source, err)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return fmt.Errorf("parse %s: %w", k.source, err)
	}
	k.keys, k.fetched = keys, k.clock.now()
	return nil
}

// refuseRedirect is the JWKS client's redirect policy: none is followed.
// checkJWKSURL vouches only for the configured URL; a redirect could lead
// to plain http or to another host, whose keys would then be trusted.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("redirected to %s: a key set is fetched from its configured URL only", req.URL.Redacted())
}

// httpJWKS fetches a key set by GET.
func httpJWKS(client *http.Client, u string) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("status %s", resp.Status)
		}
		return io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	}
}

// jsonWebKey holds the RFC 7517/7518 members of an RSA key that are read.
type jsonWebKey struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// parseJWKS returns the RS256 signing keys of a set by key id. Keys of
// other types or uses, without an id, or under 2048 bits are left out; a
// set with none left is an error.
func parseJWKS(data []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []jsonWebKey `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Kid == "" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		pub, err := rsaKey(k.N, k.E)
		if err != nil {
			continue
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("no RSA signing key with a kid for RS256 (of at least 2048 bits)")
	}
	return keys, nil
}

// rsaKey decodes the base64url modulus and exponent of RFC 7518 §6.3.1.
func rsaKey(n64, e64 string) (*rsa.PublicKey, error) {
	n, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(n64, "="))
	if err != nil {
		return nil, err
	}
	e, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(e64, "="))
	if err != nil {
		return nil, err
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New("exponent size")
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	if pub.N.BitLen() < 2048 || exp < 3 || exp%2 == 0 {
		return nil, errors.New("weak or invalid key")
	}
	return pub, nil
}
