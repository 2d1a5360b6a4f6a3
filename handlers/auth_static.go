package handlers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// The static methods: the sender repeats a secret on every request (a
// header value, a Basic password, a URL segment). They prove only that the
// sender knows the secret, so whoever sees one request can send others:
// they rely on TLS, and a captured secret must be rotated.

type noAuth struct{}

func (noAuth) check(context.Context, authRequest) (proof, error) { return proof{}, nil }

// tokenAuth compares a whole header value with prefix + secret.
type tokenAuth struct {
	header   string
	expected []digest
}

func newTokenAuth(c AuthConfig, secrets [][]byte) (tokenAuth, error) {
	a := tokenAuth{header: cmp.Or(c.Header, "Authorization")}
	for _, s := range secrets {
		a.expected = append(a.expected, sha256.Sum256(append([]byte(c.Prefix), s...)))
	}
	return a, nil
}

func (a tokenAuth) check(_ context.Context, r authRequest) (proof, error) {
	if !matchAny([]byte(r.header.Get(a.header)), a.expected) {
		return proof{}, fmt.Errorf("%w: %s does not hold an accepted token", errUnauthorized, a.header)
	}
	return proof{}, nil
}

// basicAuth checks RFC 7617 Basic credentials: one user, several accepted
// passwords (rotation).
type basicAuth struct {
	// expected holds the digest of "user:password" per password, compared
	// whole so the time taken tells neither which part nor which password
	// differed.
	expected []digest
}

func newBasicAuth(c AuthConfig, passwords [][]byte) (basicAuth, error) {
	if c.User == "" {
		return basicAuth{}, errors.New("basic auth needs user")
	}
	if strings.Contains(c.User, ":") {
		// RFC 7617 §2: the user-id cannot contain a colon.
		return basicAuth{}, errors.New("user: a Basic user name cannot contain ':'")
	}
	var a basicAuth
	for _, p := range passwords {
		a.expected = append(a.expected, sha256.Sum256([]byte(c.User+":"+string(p))))
	}
	return a, nil
}

func (a basicAuth) check(_ context.Context, r authRequest) (proof, error) {
	// net/http's parser: scheme case-insensitive, standard base64, split
	// at the first colon.
	user, pass, ok := (&http.Request{Header: r.header}).BasicAuth()
	if !ok {
		return proof{}, fmt.Errorf("%w: no Basic credentials in Authorization", errUnauthorized)
	}
	if !matchAny([]byte(user+":"+pass), a.expected) {
		return proof{}, fmt.Errorf("%w: Basic user or password not accepted", errUnauthorized)
	}
	return proof{}, nil
}

// pathTokenAuth compares the last path segment with the secrets. It is for
// senders that can do nothing else; the URL is the secret, so it must be
// long, random, kept out of access logs (the bridge logs no paths) and
// rotated.
type pathTokenAuth struct {
	expected []digest
}

// pathTokenChars are RFC 3986 unreserved characters: a token made of them
// is the same escaped or not, so routers and proxies cannot disagree on it.
var pathTokenChars = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

// minPathToken is 32 characters: about 190 bits from a random base64url
// string, far beyond guessing.
const minPathToken = 32

func newPathTokenAuth(secrets []secret) (pathTokenAuth, error) {
	var a pathTokenAuth
	for _, s := range secrets {
		if len(s.value) < minPathToken || !pathTokenChars.Match(s.value) {
			return a, fmt.Errorf("%s: use at least %d characters of A-Z a-z 0-9 . _ ~ - (e.g. openssl rand -hex 24)", s.setting, minPathToken)
		}
		a.expected = append(a.expected, sha256.Sum256(s.value))
	}
	return a, nil
}

func (a pathTokenAuth) check(_ context.Context, r authRequest) (proof, error) {
	if r.pathToken == "" {
		return proof{}, fmt.Errorf("%w: the receiver expects its token as the last path segment", errUnauthorized)
	}
	if !matchAny([]byte(r.pathToken), a.expected) {
		return proof{}, fmt.Errorf("%w: path token not accepted", errUnauthorized)
	}
	return proof{}, nil
}

// digest is the SHA-256 of an accepted static credential.
type digest = [sha256.Size]byte

// matchAny reports whether got is one of the credentials whose digests are
// candidates. It compares digests, not the values: subtle.ConstantTimeCompare
// returns at once when the lengths differ, so comparing raw values would
// tell an attacker the secret's length; digests are always 32 bytes. Every
// candidate is compared, so the time taken does not tell which one (or
// whether an early one) matched.
func matchAny(got []byte, candidates []digest) bool {
	g := sha256.Sum256(got)
	ok := 0
	for _, want := range candidates {
		ok |= subtle.ConstantTimeCompare(g[:], want[:])
	}
	return ok == 1
}
