package aksk

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

// The AK/SK verifier follows the server side of the signing spec
// (SDK-HMAC-SHA256, as the API gateway checks it: the canonical request is
// rebuilt from what was received). It is written independently of
// hssclient's signer, with other building blocks (url.QueryEscape for the
// escaping, sort.Strings), so that a signer bug cannot hide behind the
// same bug here. Gateway behaviour it copies: 15 minutes of clock skew
// (https://support.huaweicloud.com/intl/es-us/apig_faq/apig-faq-0003.html)
// and 401 APIG.0301 "Incorrect IAM authentication information: verify aksk
// signature fail" (https://support.huaweicloud.com/ocr_faq/ocr_01_0063.md).

// Failure is the gateway's 401 answer: its error code and message.
type Failure struct{ Code, Msg string }

// Failed is the 401 APIG.0301 for msg.
func Failed(msg string) *Failure {
	return &Failure{Code: "APIG.0301", Msg: "Incorrect IAM authentication information: " + msg}
}

// Key is an access key's secret, and its security token when it is
// temporary (requests must then carry it, signed, in X-Security-Token).
// The fakes' Options.AccessKeys hold it (hsstest.Key and swrtest.Key
// are this type).
type Key struct {
	SecretKey string
	// SecurityToken, when set, makes the key temporary: requests must
	// carry it, signed, in X-Security-Token.
	SecurityToken string
}

// Verify checks the Authorization header of r, whose body is body, at
// now, with keys (access key → Key) and the largest clock skew allowed,
// and returns the access key that signed it.
func Verify(r *http.Request, body []byte, now time.Time, keys map[string]Key, maxSkew time.Duration) (string, *Failure) {
	rest, ok := strings.CutPrefix(r.Header.Get("Authorization"), "SDK-HMAC-SHA256 ")
	if !ok {
		return "", Failed("unsupported authorization scheme")
	}
	fields := strings.Split(rest, ", ")
	if len(fields) != 3 {
		return "", Failed("malformed authorization header")
	}
	ak, ok1 := strings.CutPrefix(fields[0], "Access=")
	signedList, ok2 := strings.CutPrefix(fields[1], "SignedHeaders=")
	sig, ok3 := strings.CutPrefix(fields[2], "Signature=")
	if !ok1 || !ok2 || !ok3 || ak == "" || signedList == "" {
		return "", Failed("malformed authorization header")
	}
	key, known := keys[ak]
	if !known {
		return "", Failed("access key " + ak + " does not exist")
	}

	date := r.Header.Get("X-Sdk-Date")
	t, err := time.Parse("20060102T150405Z", date)
	if err != nil {
		return "", Failed("X-Sdk-Date missing or malformed")
	}
	skew := now.Sub(t)
	if skew < 0 {
		skew = -skew
	}
	if skew > maxSkew {
		return "", Failed("request time is more than " + maxSkew.String() + " away from the server time")
	}

	signed := strings.Split(signedList, ";")
	if !sort.StringsAreSorted(signed) {
		return "", Failed("signed headers are not sorted")
	}
	isSigned := map[string]bool{}
	for _, name := range signed {
		if name != strings.ToLower(name) || name == "" {
			return "", Failed("signed header names must be lower case")
		}
		isSigned[name] = true
	}
	if !isSigned["x-sdk-date"] {
		return "", Failed("x-sdk-date is not signed")
	}
	// Temporary credentials: the token must come, signed, and match.
	gotToken := r.Header.Get("X-Security-Token")
	switch {
	case key.SecurityToken != "" && (gotToken != key.SecurityToken || !isSigned["x-security-token"]):
		return "", Failed("security token missing, unsigned or wrong")
	case key.SecurityToken == "" && gotToken != "":
		return "", Failed("security token given for permanent credentials")
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
			return "", Failed("signed header " + name + " is missing")
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
		return "", Failed("verify aksk signature fail")
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
