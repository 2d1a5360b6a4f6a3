package hssclient

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Header names of the SDK-HMAC-SHA256 scheme and of the HSS request.
const (
	headerSdkDate       = "X-Sdk-Date"
	headerContentSha256 = "X-Sdk-Content-Sha256"
	headerProjectID     = "X-Project-Id"
	headerSecurityToken = "X-Security-Token"
	headerAuthToken     = "X-Auth-Token"
	headerRegion        = "Region" // sent as "region"; header names are case-insensitive
	sdkDateFormat       = "20060102T150405Z"
	algorithmHMACSHA256 = "SDK-HMAC-SHA256"
	unsignedPayload     = "UNSIGNED-PAYLOAD"
)

// Signer authenticates requests with the AK/SK scheme SDK-HMAC-SHA256,
// producing the same headers, byte for byte, as the official Go SDK's
// BasicCredentials with the default signer (core/auth/basic_credentials.go,
// core/auth/signer/signer.go at v0.1.207): X-Project-Id, X-Security-Token
// for temporary credentials, X-Sdk-Date and Authorization.
//
// It is safe for concurrent use.
type Signer struct {
	creds Credentials
}

// NewSigner returns a Signer for the credentials.
func NewSigner(c Credentials) (*Signer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Signer{creds: c}, nil
}

// Authorize adds the project header, the security token when the
// credentials are temporary, and the signature. It does no I/O.
func (s *Signer) Authorize(_ context.Context, req *http.Request, t Target, body []byte) error {
	req.Header.Set(headerProjectID, t.ProjectID)
	if !s.creds.SecurityToken.IsZero() {
		req.Header.Set(headerSecurityToken, s.creds.SecurityToken.Reveal())
	}
	s.Sign(req, body)
	return nil
}

// Sign signs req, whose body is body, as the SDK's signer.Signer does:
// every header already on req is signed except Content-Type and names
// holding "_" (Host is not a header in Go and is not signed, as in the
// SDK); X-Sdk-Date is taken from req when it holds a valid date (the SDK's
// hook to pin the date) and set to the current time otherwise; then
// Authorization is set. Callers add headers to sign before calling it.
func (s *Signer) Sign(req *http.Request, body []byte) {
	h := req.Header
	if ct, ok := h["Content-Type"]; ok && !jsonOrBSON(ct) {
		h.Set(headerContentSha256, unsignedPayload)
	}
	t, err := time.Parse(sdkDateFormat, h.Get(headerSdkDate))
	if err != nil {
		t = time.Now()
	}
	date := t.UTC().Format(sdkDateFormat)
	h.Set(headerSdkDate, date)

	signed := signedHeaders(h)
	cr := canonicalRequest(req, h, signed, body)
	crHash := sha256.Sum256([]byte(cr))
	sts := algorithmHMACSHA256 + "\n" + date + "\n" + hex.EncodeToString(crHash[:])
	mac := hmac.New(sha256.New, []byte(s.creds.SecretKey.Reveal()))
	mac.Write([]byte(sts))
	h.Set("Authorization", algorithmHMACSHA256+" Access="+s.creds.AccessKey+
		", SignedHeaders="+strings.Join(signed, ";")+
		", Signature="+hex.EncodeToString(mac.Sum(nil)))
}

func jsonOrBSON(values []string) bool {
	v := ""
	if len(values) > 0 {
		v = values[0]
	}
	return strings.Contains(v, "application/json") || strings.Contains(v, "application/bson")
}

// signedHeaders lists the lower-cased header names to sign, sorted.
func signedHeaders(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "content-type") || strings.Contains(lk, "_") {
			continue
		}
		names = append(names, lk)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// canonicalRequest is METHOD \n URI \n query \n headers \n signed \n
// payload hash, each part built as the SDK builds it.
func canonicalRequest(req *http.Request, h http.Header, signed []string, body []byte) string {
	var b strings.Builder
	b.WriteString(req.Method)
	b.WriteByte('\n')

	// URI: each path segment escaped, a trailing slash always.
	segments := strings.Split(req.URL.Path, "/")
	for i, seg := range segments {
		segments[i] = escape(seg)
	}
	uri := strings.Join(segments, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	b.WriteString(uri)
	b.WriteByte('\n')

	// Query: keys sorted, each key's values sorted, key=value joined by &.
	q := req.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	first := true
	for _, k := range keys {
		vs := slices.Clone(q[k])
		slices.Sort(vs)
		for _, v := range vs {
			if !first {
				b.WriteByte('&')
			}
			first = false
			b.WriteString(escape(k))
			b.WriteByte('=')
			b.WriteString(escape(v))
		}
	}
	b.WriteByte('\n')

	// Headers: name:trimmed value, one line each, values of a name sorted.
	// Values are gathered by lower-cased name, as the SDK does, so a
	// header stored under a non-canonical key is found too.
	byName := make(map[string][]string, len(h))
	for k, vs := range h {
		lk := strings.ToLower(k)
		byName[lk] = append(byName[lk], vs...)
	}
	for _, name := range signed {
		vs := byName[name]
		slices.Sort(vs)
		for _, v := range vs {
			b.WriteString(name)
			b.WriteByte(':')
			b.WriteString(strings.TrimSpace(v))
			b.WriteByte('\n')
		}
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')

	if v := h.Get(headerContentSha256); v != "" {
		b.WriteString(v)
	} else {
		sum := sha256.Sum256(body)
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()
}

// escape percent-encodes every byte except A-Z a-z 0-9 _ - ~ . with
// upper-case hex, as the SDK's signer.escape does (stricter than
// url.PathEscape: "*", "+", "=" and ":" are encoded too).
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if shouldEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	out := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if shouldEscape(c) {
			out = append(out, '%', hexDigits[c>>4], hexDigits[c&15])
		} else {
			out = append(out, c)
		}
	}
	return string(out)
}

func shouldEscape(c byte) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return false
	case c == '_', c == '-', c == '~', c == '.':
		return false
	}
	return true
}
