package handlers

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// The signing methods: the sender proves it knows a key without sending
// it, and the signature covers the body (and, where the sender signs them,
// a timestamp and a delivery id), so a captured request cannot be altered,
// and with a signed timestamp cannot be replayed later either.

// hmacAuth checks an HMAC in one header over the body or over a
// signed-payload template (GitHub, Nexus, and senders that sign
// "timestamp.body").
type hmacAuth struct {
	header  string
	prefix  string
	newHash func() hash.Hash
	decode  func(string) ([]byte, error)
	// encoding names decode for log lines.
	encoding string
	secrets  [][]byte
	// payload is the signed content, in parts; nil means the body alone.
	payload []payloadPart
	// timestampHeader and idHeader are where {timestamp} and {id} come from.
	timestampHeader string
	idHeader        string
}

// payloadPart is a literal or one of the placeholders.
type payloadPart struct {
	literal     string
	placeholder string // "", "body", "timestamp" or "id"
}

func newHMACAuth(c AuthConfig, secrets [][]byte) (hmacAuth, error) {
	a := hmacAuth{header: cmp.Or(c.Header, "X-Signature-256"), prefix: c.Prefix, secrets: secrets,
		timestampHeader: c.TimestampHeader}
	switch cmp.Or(c.Algorithm, "sha256") {
	case "sha256":
		a.newHash = sha256.New
	case "sha1":
		a.newHash = sha1.New
	case "sha512":
		a.newHash = sha512.New
	default:
		return a, fmt.Errorf("algorithm %q: use sha256, sha1 or sha512", c.Algorithm)
	}
	a.encoding = cmp.Or(c.Encoding, "hex")
	switch a.encoding {
	case "hex":
		a.decode = hex.DecodeString
	case "base64":
		a.decode = base64.StdEncoding.DecodeString
	default:
		return a, fmt.Errorf("encoding %q: use hex or base64", c.Encoding)
	}
	if c.SignedPayload == "" {
		if c.TimestampHeader != "" {
			return a, errors.New("timestamp_header needs signed_payload with {timestamp}: an unsigned timestamp proves nothing")
		}
		return a, nil
	}
	parts, err := parsePayloadTemplate(c.SignedPayload)
	if err != nil {
		return a, fmt.Errorf("signed_payload: %w", err)
	}
	uses := map[string]bool{}
	for _, p := range parts {
		uses[p.placeholder] = true
	}
	if uses["timestamp"] != (c.TimestampHeader != "") {
		return a, errors.New("signed_payload has {timestamp} exactly when timestamp_header is set")
	}
	if uses["id"] {
		if c.Replay.IDHeader == "" {
			return a, errors.New("signed_payload: {id} needs replay.id_header")
		}
		a.idHeader = c.Replay.IDHeader
	}
	a.payload = parts
	return a, nil
}

// parsePayloadTemplate splits "v0:{timestamp}:{body}" into literals and
// placeholders; {body} must occur exactly once, unknown or unclosed
// placeholders are errors.
func parsePayloadTemplate(t string) ([]payloadPart, error) {
	var parts []payloadPart
	bodies := 0
	for t != "" {
		open := strings.IndexByte(t, '{')
		if open < 0 {
			parts = append(parts, payloadPart{literal: t})
			break
		}
		if open > 0 {
			parts = append(parts, payloadPart{literal: t[:open]})
		}
		name, rest, ok := strings.Cut(t[open+1:], "}")
		if !ok {
			return nil, fmt.Errorf("unclosed {%s", name)
		}
		switch name {
		case "body", "timestamp", "id":
		default:
			return nil, fmt.Errorf("unknown placeholder {%s}: use {body}, {timestamp} or {id}", name)
		}
		if name == "body" {
			bodies++
		}
		parts = append(parts, payloadPart{placeholder: name})
		t = rest
	}
	if bodies != 1 {
		return nil, errors.New("{body} must occur exactly once")
	}
	return parts, nil
}

func (a hmacAuth) check(_ context.Context, r authRequest) (proof, error) {
	v, ok := strings.CutPrefix(r.header.Get(a.header), a.prefix)
	if !ok || v == "" {
		return proof{}, fmt.Errorf("%w: no signature in %s", errUnauthorized, a.header)
	}
	sig, err := a.decode(strings.TrimSpace(v))
	if err != nil {
		return proof{}, fmt.Errorf("%w: signature in %s is not %s", errUnauthorized, a.header, a.encoding)
	}
	var p proof
	var ts string
	if a.timestampHeader != "" {
		ts = r.header.Get(a.timestampHeader)
		if p.timestamp, err = parseUnixSeconds(ts); err != nil {
			return proof{}, fmt.Errorf("%w: %s: %w", errUnauthorized, a.timestampHeader, err)
		}
	}
	if a.idHeader != "" {
		if p.id = r.header.Get(a.idHeader); p.id == "" {
			return proof{}, fmt.Errorf("%w: no delivery id in %s", errUnauthorized, a.idHeader)
		}
	}
	match := false
	for _, s := range a.secrets {
		m := hmac.New(a.newHash, s)
		a.write(m, r.body, ts, p.id)
		// Every secret is tried: the time taken does not tell which
		// matched.
		match = hmac.Equal(m.Sum(nil), sig) || match
	}
	if !match {
		return proof{}, fmt.Errorf("%w: signature in %s does not match", errUnauthorized, a.header)
	}
	return p, nil
}

// write feeds the signed content into m part by part, without building it.
func (a hmacAuth) write(m hash.Hash, body []byte, timestamp, id string) {
	if a.payload == nil {
		m.Write(body)
		return
	}
	for _, p := range a.payload {
		switch p.placeholder {
		case "":
			m.Write([]byte(p.literal))
		case "body":
			m.Write(body)
		case "timestamp":
			m.Write([]byte(timestamp))
		case "id":
			m.Write([]byte(id))
		}
	}
}

// parseUnixSeconds reads a decimal Unix time in seconds, the form of
// webhook-timestamp and of the timestamp headers of HMAC senders.
func parseUnixSeconds(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("no timestamp")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, errors.New("timestamp is not Unix seconds")
	}
	return time.Unix(n, 0), nil
}

// standardWebhooks verifies the symmetric Standard Webhooks signature:
// https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
// (signed content "{webhook-id}.{webhook-timestamp}.{body}", HMAC-SHA256,
// "v1,<base64>" entries separated by spaces so a sender can sign with an
// old and a new key during rotation). Svix sends the same headers named
// svix-id, svix-timestamp and svix-signature; either family is accepted,
// never a mix.
type standardWebhooks struct {
	keys [][]byte
}

// standardWebhooksSecretPrefix marks a Standard Webhooks symmetric key.
const standardWebhooksSecretPrefix = "whsec_"

func newStandardWebhooks(secrets []secret) (standardWebhooks, error) {
	var a standardWebhooks
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(s.value), standardWebhooksSecretPrefix))
		if err != nil || len(key) == 0 {
			return a, fmt.Errorf("%s: not %s followed by base64", s.setting, standardWebhooksSecretPrefix)
		}
		if len(key) < minSecretBytes {
			return a, fmt.Errorf("%s: the key decodes to %d bytes; at least %d are required", s.setting, len(key), minSecretBytes)
		}
		a.keys = append(a.keys, key)
	}
	return a, nil
}

func (a standardWebhooks) check(_ context.Context, r authRequest) (proof, error) {
	family := "webhook-"
	if r.header.Get("webhook-signature") == "" && r.header.Get("svix-signature") != "" {
		family = "svix-"
	}
	id, ts, sigs := r.header.Get(family+"id"), r.header.Get(family+"timestamp"), r.header.Get(family+"signature")
	if id == "" || sigs == "" {
		return proof{}, fmt.Errorf("%w: %sid or %ssignature missing", errUnauthorized, family, family)
	}
	t, err := parseUnixSeconds(ts)
	if err != nil {
		return proof{}, fmt.Errorf("%w: %stimestamp: %w", errUnauthorized, family, err)
	}
	want := make([][]byte, len(a.keys))
	for i, k := range a.keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(r.body)
		want[i] = m.Sum(nil)
	}
	if !matchStandardSignatures(sigs, want) {
		return proof{}, fmt.Errorf("%w: no v1 signature in %ssignature matches", errUnauthorized, family)
	}
	return proof{id: id, timestamp: t}, nil
}

// matchStandardSignatures reports whether one "v1,<base64>" entry of the
// space-separated list equals one of want. Other versions (v1a, the
// asymmetric scheme) and undecodable entries are skipped, as the spec's
// reference libraries do.
func matchStandardSignatures(header string, want [][]byte) bool {
	match := false
	for _, entry := range strings.Fields(header) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		for _, w := range want {
			match = hmac.Equal(got, w) || match
		}
	}
	return match
}
