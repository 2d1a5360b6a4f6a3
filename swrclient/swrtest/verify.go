package swrtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// The AK/SK verifier is hssclient/hsstest's (verify.go there), copied so
// that this package imports no other of the module. It follows the
// server side of the signing spec
// (SDK-HMAC-SHA256, as the API gateway checks it: the canonical request is
// rebuilt from what was received). It is written independently of
// hssclient's signer, with other building blocks (url.QueryEscape for the
// escaping, sort.Strings), so that a signer bug cannot hide behind the
// same bug here. Gateway behaviour it copies: 15 minutes of clock skew
// (https://support.huaweicloud.com/intl/es-us/apig_faq/apig-faq-0003.html)
// and 401 APIG.0301 "Incorrect IAM authentication information: verify aksk
// signature fail" (https://support.huaweicloud.com/ocr_faq/ocr_01_0063.md).

// authFailure is a 401 answer.
type authFailure struct{ code, msg string }

func authFailed(msg string) *authFailure {
	return &authFailure{code: "APIG.0301", msg: "Incorrect IAM authentication information: " + msg}
}

// verifyAKSK checks the Authorization header of r and returns the access
// key that signed it.
func (f *Fake) verifyAKSK(r *http.Request, body []byte, now time.Time) (string, *authFailure) {
	rest, ok := strings.CutPrefix(r.Header.Get("Authorization"), "SDK-HMAC-SHA256 ")
	if !ok {
		return "", authFailed("unsupported authorization scheme")
	}
	fields := strings.Split(rest, ", ")
	if len(fields) != 3 {
		return "", authFailed("malformed authorization header")
	}
	ak, ok1 := strings.CutPrefix(fields[0], "Access=")
	signedList, ok2 := strings.CutPrefix(fields[1], "SignedHeaders=")
	sig, ok3 := strings.CutPrefix(fields[2], "Signature=")
	if !ok1 || !ok2 || !ok3 || ak == "" || signedList == "" {
		return "", authFailed("malformed authorization header")
	}
	key, known := f.opts.AccessKeys[ak]
	if !known {
		return "", authFailed("access key " + ak + " does not exist")
	}

	date := r.Header.Get("X-Sdk-Date")
	t, err := time.Parse("20060102T150405Z", date)
	if err != nil {
		return "", authFailed("X-Sdk-Date missing or malformed")
	}
	skew := now.Sub(t)
	if skew < 0 {
		skew = -skew
	}
	if skew > f.opts.MaxSkew {
		return "", authFailed("request time is more than " + f.opts.MaxSkew.String() + " away from the server time")
	}

	signed := strings.Split(signedList, ";")
	if !sort.StringsAreSorted(signed) {
		return "", authFailed("signed headers are not sorted")
	}
	isSigned := map[string]bool{}
	for _, name := range signed {
		if name != strings.ToLower(name) || name == "" {
			return "", authFailed("signed header names must be lower case")
		}
		isSigned[name] = true
	}
	if !isSigned["x-sdk-date"] {
		return "", authFailed("x-sdk-date is not signed")
	}
	// Temporary credentials: the token must come, signed, and match.
	gotToken := r.Header.Get("X-Security-Token")
	switch {
	case key.SecurityToken != "" && (gotToken != key.SecurityToken || !isSigned["x-security-token"]):
		return "", authFailed("security token missing, unsigned or wrong")
	case key.SecurityToken == "" && gotToken != "":
		return "", authFailed("security token given for permanent credentials")
	}

	var cr strings.Builder
	cr.WriteString(r.Method + "\n")
	cr.WriteString(canonicalPath(r.URL.Path) + "\n")
	cr.WriteString(canonicalQuery(r.URL.RawQuery) + "\n")
	for _, name := range signed {
		var values []string
		if name == "host" {
			values = []string{r.Host}
		} else {
			values = append(values, r.Header.Values(name)...)
		}
		if len(values) == 0 {
			return "", authFailed("signed header " + name + " is missing")
		}
		sort.Strings(values)
		for _, v := range values {
			cr.WriteString(name + ":" + strings.TrimSpace(v) + "\n")
		}
	}
	cr.WriteString("\n" + signedList + "\n")
	if h := r.Header.Get("X-Sdk-Content-Sha256"); h != "" {
		cr.WriteString(h)
	} else {
		sum := sha256.Sum256(body)
		cr.WriteString(hex.EncodeToString(sum[:]))
	}

	crSum := sha256.Sum256([]byte(cr.String()))
	stringToSign := "SDK-HMAC-SHA256\n" + date + "\n" + hex.EncodeToString(crSum[:])
	mac := hmac.New(sha256.New, []byte(key.SecretKey))
	mac.Write([]byte(stringToSign))
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return "", authFailed("verify aksk signature fail")
	}
	return ak, nil
}

// specEscape is the spec's escaping: every byte but A-Z a-z 0-9 - _ . ~ as
// %XX in upper case. url.QueryEscape does exactly that except that it
// writes a space as "+" (a literal "+" becomes "%2B", so every "+" left
// is a space).
func specEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// canonicalPath escapes each segment of the decoded path and ends it
// with "/".
func canonicalPath(p string) string {
	segs := strings.Split(p, "/")
	for i := range segs {
		segs[i] = specEscape(segs[i])
	}
	out := strings.Join(segs, "/")
	if !strings.HasSuffix(out, "/") {
		out += "/"
	}
	return out
}

// canonicalQuery decodes the received query and re-escapes it, keys and
// each key's values sorted.
func canonicalQuery(raw string) string {
	q, _ := url.ParseQuery(raw) // a malformed query fails the signature
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			pairs = append(pairs, specEscape(k)+"="+specEscape(v))
		}
	}
	return strings.Join(pairs, "&")
}
