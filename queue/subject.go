package queue

import (
	"errors"
	"fmt"
	"strings"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// EscapeToken turns any string into one NATS subject token, reversibly.
// Namespaces may hold '.', '*', '>', spaces and other bytes that subjects
// reserve, so every byte outside [A-Za-z0-9_-] is written %XX (upper-case
// hex of the byte; '%' itself becomes %25). The result only holds
// [A-Za-z0-9_%-], is empty only for the empty string, and is a literal token
// (never a wildcard), so a subject filter on one namespace matches exactly
// that namespace.
func EscapeToken(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isPlain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0F])
	}
	return b.String()
}

// ErrBadToken is wrapped by UnescapeToken's errors.
var ErrBadToken = errors.New("not an escaped subject token")

// UnescapeToken reverses EscapeToken. It accepts only what EscapeToken
// produces (upper-case hex, no raw reserved bytes), so every token has one
// spelling and UnescapeToken(t) escapes back to t.
func UnescapeToken(t string) (string, error) {
	var b strings.Builder
	b.Grow(len(t))
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case isPlain(c):
			b.WriteByte(c)
		case c == '%':
			if i+2 >= len(t) {
				return "", fmt.Errorf("%w: %q: truncated escape at %d", ErrBadToken, t, i)
			}
			hi, ok1 := unhex(t[i+1])
			lo, ok2 := unhex(t[i+2])
			if !ok1 || !ok2 {
				return "", fmt.Errorf("%w: %q: bad escape at %d", ErrBadToken, t, i)
			}
			v := hi<<4 | lo
			if isPlain(v) {
				return "", fmt.Errorf("%w: %q: %q must not be escaped", ErrBadToken, t, v)
			}
			b.WriteByte(v)
			i += 2
		default:
			return "", fmt.Errorf("%w: %q: raw byte %q at %d", ErrBadToken, t, c, i)
		}
	}
	return b.String(), nil
}

func isPlain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ErrInvalidJob is wrapped when a job cannot be stored at all (it has no
// namespace or image type to build its subject from). Callers validate jobs
// first (scanjob.Job.Validate); this is the queue's own last check.
var ErrInvalidJob = errors.New("invalid scan job")

// jobSubject is <prefix>.<image_type>.<namespace>, each escaped.
func jobSubject(prefix string, job scanjob.Job) (string, error) {
	if job.Namespace == "" || job.Target.ImageType == "" {
		return "", fmt.Errorf("%w: namespace and target.image_type are required for the subject", ErrInvalidJob)
	}
	return prefix + "." + EscapeToken(string(job.Target.ImageType)) + "." + EscapeToken(job.Namespace), nil
}

// laneSubject is the subject a job is stored on in the job stream: its
// jobSubject, and for a background lane (scanjob.Lane.Background) one more
// token, the lane. The background lanes are so kept apart from pushes for
// the second durable consumer (Config.jetstreamBackgroundConsumer): the
// stream hands out messages in order, so a push stored behind 10,000
// sweep jobs would otherwise not even reach the batcher before they did.
// A push's subject is what it always was.
func laneSubject(prefix string, job scanjob.Job) (string, error) {
	s, err := jobSubject(prefix, job)
	if err != nil || !job.Lane.Background() {
		return s, err
	}
	return s + "." + EscapeToken(string(job.Lane)), nil
}

// Subject is the subject job is stored on in a job stream whose subjects
// start with prefix (laneSubject): for a part that puts a job back into the
// stream under a message id of its own (the watcher's rescans, a
// schedule's), so it lands where the consumers read its lane.
func Subject(prefix string, job scanjob.Job) (string, error) { return laneSubject(prefix, job) }

// namespaceFilter matches every image type of one namespace under prefix.
func namespaceFilter(prefix, namespace string) string {
	return prefix + ".*." + EscapeToken(namespace)
}
