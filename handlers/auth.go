package handlers

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"os"
	"strings"
)

// Auth methods a receiver can require. Each matches what a kind of sender
// can prove; see docs/receivers.md for the registry → method table.
const (
	// AuthToken: a shared secret in a named header, compared whole
	// (Harbor's "Auth Header", SWR Enterprise's auth_header, distribution's
	// endpoint headers, ACR custom headers). Prefix, if set, is part of
	// the expected value ("Bearer ").
	AuthToken = "token"
	// AuthHMAC: an HMAC of the raw body in a named header, optionally
	// behind a prefix ("sha256="), hex or base64.
	AuthHMAC = "hmac"
	// AuthNone accepts every request. Only for receivers on a trusted
	// network; the bridge warns at start about each one.
	AuthNone = "none"
)

// AuthConfig says how a receiver authenticates its sender.
type AuthConfig struct {
	// Method is token, hmac or none.
	Method string `koanf:"method" json:"method" validate:"required,oneof=token hmac none"`
	// Header carries the token or the signature. Default: Authorization
	// for token, X-Signature-256 for hmac.
	Header string `koanf:"header" json:"header"`
	// Prefix precedes the token or signature in the header, e.g.
	// "Bearer " or "sha256=".
	Prefix string `koanf:"prefix" json:"prefix"`
	// Algorithm of the HMAC: sha256 (default), sha1 or sha512.
	Algorithm string `koanf:"algorithm" json:"algorithm" validate:"omitempty,oneof=sha256 sha1 sha512"`
	// Encoding of the HMAC: hex (default) or base64.
	Encoding string `koanf:"encoding" json:"encoding" validate:"omitempty,oneof=hex base64"`
	// Secrets are accepted values; more than one allows rotation without
	// downtime (add the new one, switch the sender, remove the old one).
	Secrets []string `koanf:"secrets" json:"-"`
	// SecretFiles name files whose trimmed content is a secret each, so
	// secrets can come from mounted Kubernetes secrets instead of config.
	SecretFiles []string `koanf:"secret_files" json:"secret_files,omitempty"`
}

// errUnauthorized is what every failed check returns: the answer must not
// tell an attacker which part was wrong.
var errUnauthorized = errors.New("missing or invalid credentials")

// verifier checks one request's credentials against its raw body.
type verifier interface {
	verify(h http.Header, body []byte) error
}

func newVerifier(c AuthConfig) (verifier, error) {
	secrets := make([][]byte, 0, len(c.Secrets)+len(c.SecretFiles))
	for _, s := range c.Secrets {
		secrets = append(secrets, []byte(s))
	}
	for _, f := range c.SecretFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read secret file: %w", err)
		}
		secrets = append(secrets, []byte(strings.TrimSpace(string(b))))
	}
	for _, s := range secrets {
		if len(s) == 0 {
			return nil, errors.New("an empty secret is not allowed")
		}
	}
	switch c.Method {
	case AuthNone:
		return noAuth{}, nil
	case AuthToken:
		if len(secrets) == 0 {
			return nil, errors.New("token auth needs at least one secret")
		}
		v := tokenAuth{header: firstNonEmpty(c.Header, "Authorization")}
		for _, s := range secrets {
			v.expected = append(v.expected, append([]byte(c.Prefix), s...))
		}
		return v, nil
	case AuthHMAC:
		if len(secrets) == 0 {
			return nil, errors.New("hmac auth needs at least one secret")
		}
		var newHash func() hash.Hash
		switch firstNonEmpty(c.Algorithm, "sha256") {
		case "sha256":
			newHash = sha256.New
		case "sha1":
			newHash = sha1.New
		case "sha512":
			newHash = sha512.New
		}
		decode := hex.DecodeString
		if c.Encoding == "base64" {
			decode = base64.StdEncoding.DecodeString
		}
		return hmacAuth{header: firstNonEmpty(c.Header, "X-Signature-256"), prefix: c.Prefix, newHash: newHash, decode: decode, secrets: secrets}, nil
	default:
		return nil, fmt.Errorf("unknown auth method %q", c.Method)
	}
}

type noAuth struct{}

func (noAuth) verify(http.Header, []byte) error { return nil }

type tokenAuth struct {
	header   string
	expected [][]byte
}

func (a tokenAuth) verify(h http.Header, _ []byte) error {
	got := []byte(h.Get(a.header))
	ok := 0
	// Every secret is compared, so the time taken does not tell which one
	// (or whether an early one) matched.
	for _, want := range a.expected {
		ok |= subtle.ConstantTimeCompare(got, want)
	}
	if ok != 1 {
		return errUnauthorized
	}
	return nil
}

type hmacAuth struct {
	header  string
	prefix  string
	newHash func() hash.Hash
	decode  func(string) ([]byte, error)
	secrets [][]byte
}

func (a hmacAuth) verify(h http.Header, body []byte) error {
	v, ok := strings.CutPrefix(h.Get(a.header), a.prefix)
	if !ok || v == "" {
		return errUnauthorized
	}
	sig, err := a.decode(strings.TrimSpace(v))
	if err != nil {
		return errUnauthorized
	}
	match := false
	for _, s := range a.secrets {
		m := hmac.New(a.newHash, s)
		m.Write(body)
		if hmac.Equal(m.Sum(nil), sig) {
			match = true
		}
	}
	if !match {
		return errUnauthorized
	}
	return nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
