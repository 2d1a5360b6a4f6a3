package lifecycle

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// The key scheme (doc.go, "Keys"). A key is five dot-separated tokens:
//
//	<namespace>.<image>.<tag>.<digest>.<target>
//
// The first four are names, each escaped by nameToken; the last is
// "t" and 16 hex digits of a SHA-256 of the target (Target.Key) and the
// SWR Enterprise instance id, which are long, opaque and never searched
// by. Namespace first, so "team.>" selects a namespace and
// "team.app.v1.>" an image tag.
//
// nameToken keeps a name as it is when it is made only of letters, digits,
// '-', '_' and '/' (every valid namespace and image without a dot, every
// tag without a dot). Otherwise each byte outside that set, '=' included,
// becomes "=XX" (two upper-case hex digits): "v1.2" → "v1=2E2",
// "sha256:ab" → "sha256=3Aab". An empty name is "=_". An escaped token
// longer than maxToken is "=H" and 32 hex digits of the name's SHA-256.
// The three forms cannot be mistaken for one another ("=_" and "=H" are
// not escapes: an escape is '=' and two hex digits), so distinct names
// give distinct tokens (the hashed form up to a 128-bit collision).
const maxToken = 160

// keyTokens is the number of tokens of every key.
const keyTokens = 5

// KeyOf is the KV key of a job's image: valid for JetStream KV (only
// [-/_=.a-zA-Z0-9], no empty token), the same for every replica and every
// retry of the push, different for different identities (target,
// namespace, image, tag, digest, instance).
func KeyOf(j scanjob.Job) string {
	var b strings.Builder
	b.Grow(len(j.Namespace) + len(j.Image) + len(j.Tag) + len(j.Digest) + 24)
	for _, name := range [...]string{j.Namespace, j.Image, j.Tag, j.Digest} {
		b.WriteString(nameToken(name))
		b.WriteByte('.')
	}
	b.WriteString(targetToken(j.Target, j.InstanceID))
	return b.String()
}

// targetToken names a target and instance in a key.
func targetToken(t scanjob.Target, instanceID string) string {
	sum := sha256.Sum256([]byte(t.Key() + "\x00" + instanceID))
	return "t" + hex.EncodeToString(sum[:8])
}

// plainByte: kept as it is in a name token.
func plainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '/'
}

// nameToken is one name as a key token (see the scheme above).
func nameToken(name string) string {
	if name == "" {
		return "=_"
	}
	n := 0 // escaped bytes
	for i := 0; i < len(name); i++ {
		if !plainByte(name[i]) {
			n++
		}
	}
	if n == 0 && len(name) <= maxToken {
		return name
	}
	if len(name)+2*n > maxToken {
		sum := sha256.Sum256([]byte(name))
		return "=H" + hex.EncodeToString(sum[:16])
	}
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(name)+2*n)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if plainByte(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '=', hexDigits[c>>4], hexDigits[c&15])
	}
	return string(b)
}

// Filter selects records for List. Empty fields select everything.
type Filter struct {
	Namespace string
	Image     string
	Tag       string
	State     State
	// Limit bounds the answer: 0 means DefaultLimit, and it is capped at
	// MaxLimit.
	Limit int
}

// The bounds of one List.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// subject is the KV key filter that selects f's namespace, image and tag
// ("*" for an empty one); the state is checked on the records.
func (f Filter) subject() string {
	tok := func(s string) string {
		if s == "" {
			return "*"
		}
		return nameToken(s)
	}
	return tok(f.Namespace) + "." + tok(f.Image) + "." + tok(f.Tag) + ".*.*"
}

// validKeyRe is JetStream's rule for keys and subjects without wildcards.
var validKeyRe = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$`)
