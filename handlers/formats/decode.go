package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// This file holds how decoders read a body and report it: decoding a JSON
// object, reading event times, the skip reasons several formats give, and
// collecting pushes and skips in body order.

// Skip reasons for situations every format meets, so an administrator reads
// the same words whichever registry sent the event.
const (
	reasonPull         = "pull event, not a push"
	reasonDelete       = "delete event, not a push"
	reasonByDigest     = "push by digest without a tag"
	reasonNoRepository = "push without a repository name"
	reasonSameTag      = "same tag reported again in this body"
)

// reasonHelmChart is the reason for chart events and chart artifacts.
var reasonHelmChart = notAnImage("helm chart")

// errNotJSONObject marks a body that is not a JSON object at all: "null",
// an array, a number, an empty body or text.
var errNotJSONObject = errors.New("body is not a JSON object")

// requireJSONObject checks that the body starts like a JSON object
// (encoding/json would decode "null" into a zero struct without complaint).
// Only JSON's own white space may come first.
func requireJSONObject(body []byte) error {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\n', '\r':
		case '{':
			return nil
		default:
			return errNotJSONObject
		}
	}
	return errNotJSONObject
}

// decodeObject unmarshals a body that must be a JSON object into v, the
// zero value of its type. The error wraps errNotJSONObject, or
// encoding/json's *SyntaxError or *UnmarshalTypeError, so tests and
// callers can tell them apart. A v with a fast reader is read without
// reflection when the body allows it (fastpath.go), with the same result.
func decodeObject(body []byte, v any) error {
	if err := requireJSONObject(body); err != nil {
		return err
	}
	if f, ok := v.(fastReader); ok {
		if obj, ok := fastObject(body); ok && f.readFast(obj) {
			return nil
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}

// eventTime is an event time as senders write it: an RFC 3339 string (also
// with "+0000" offsets, as Nexus writes them, or without a zone, read as
// UTC), or Unix seconds or milliseconds as a JSON number or a numeric
// string, with a fraction or in exponent form (old Docker Hub payloads:
// 1.417566161e+09). Anything else leaves it zero rather than failing the
// body: a sender that retries forever must not be blocked over a time the
// bridge only uses for a latency metric.
type eventTime struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (t *eventTime) UnmarshalJSON(b []byte) error {
	t.Time = rawEventTime(string(b))
	return nil
}

// rawEventTime reads an event time from a raw JSON value of any type; the
// fast path (fastpath.go) hands it the same text encoding/json hands
// UnmarshalJSON.
func rawEventTime(raw string) time.Time {
	raw = strings.TrimSpace(raw)
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	return parseTime(raw)
}

// timeLayouts are the RFC 3339 variants registries send.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999"}

// parseTime reads a time the way eventTime does, from a string field or a
// header. The zero time means unknown.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if len(s) < 5 || s[4] != '-' {
		// Not "YYYY-…": skip the layouts, whose failures allocate.
		return unixTime(s)
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() <= 1 { // "0001-01-01T00:00:00Z" means unset (GitHub)
				return time.Time{}
			}
			return t.UTC()
		}
	}
	return unixTime(s)
}

// msThreshold tells seconds from milliseconds: 1e11 seconds is the year
// 5138, 1e11 milliseconds is 1973.
const msThreshold = 1e11

// unixTime reads Unix seconds or milliseconds. Values up to 1e15 are
// exact in a float64, so no integer path is needed.
func unixTime(s string) time.Time {
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil, math.IsNaN(f), f <= 0, f >= 1e15:
		return time.Time{}
	case f >= msThreshold:
		return time.UnixMilli(int64(f)).UTC()
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// Clip bounds a sender-controlled string to n bytes and an ellipsis, so
// that what a sender chose cannot grow an answer, an error or a log line
// without limit. handlers uses it too, for what it logs of a request, so
// both packages bound such strings alike.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// resultBuilder collects pushes and skips in body order. It applies the
// rules every format shares, so decoders only map their fields:
// a push needs a repository and a tag; cosign and referrers tags and
// non-image media types are skipped; the same host/repository:tag reported
// twice in one body is one push.
type resultBuilder struct {
	res Result
	// seen holds host/repository:tag of the pushes once there are more
	// than seenScan of them; fewer, the common case of one, are looked up
	// in res.Pushes, without building a key or a map.
	seen map[string]bool
}

const seenScan = 16

func (b *resultBuilder) skip(ref, reason string) {
	b.res.Skipped = append(b.res.Skipped, Skip{Ref: Clip(ref, 300), Reason: reason})
}

// candidate is one pushed tag as a decoder read it, with the media types
// that decide whether it is an image.
type candidate struct {
	Push
	ConfigMediaType string
	ArtifactType    string
}

func (b *resultBuilder) add(c candidate) {
	p := c.Push
	p.Repository = strings.Trim(strings.TrimSpace(p.Repository), "/")
	p.Tag = strings.TrimSpace(p.Tag)
	ref := func() string { return refString(p.Repository, p.Tag, p.Digest) }
	switch {
	case p.Repository == "":
		b.skip(ref(), reasonNoRepository)
		return
	case p.Tag == "" || looksLikeDigest(p.Tag):
		b.skip(refString(p.Repository, "", p.Digest), reasonByDigest)
		return
	}
	if reason := tagSkipReason(p.Tag); reason != "" {
		b.skip(ref(), reason)
		return
	}
	if reason := nonImageReason(p.MediaType, c.ConfigMediaType, c.ArtifactType); reason != "" {
		b.skip(ref(), reason)
		return
	}
	if b.pushed(&p) {
		b.skip(ref(), reasonSameTag)
		return
	}
	b.res.Pushes = append(b.res.Pushes, p)
	if b.seen != nil {
		b.seen[pushKey(&p)] = true
	}
}

// pushed reports whether the body already gave a push of p's
// host/repository:tag.
func (b *resultBuilder) pushed(p *Push) bool {
	if b.seen == nil && len(b.res.Pushes) < seenScan {
		for i := range b.res.Pushes {
			if q := &b.res.Pushes[i]; q.Tag == p.Tag && q.Repository == p.Repository && q.Host == p.Host {
				return true
			}
		}
		return false
	}
	if b.seen == nil {
		b.seen = make(map[string]bool, 2*len(b.res.Pushes))
		for i := range b.res.Pushes {
			b.seen[pushKey(&b.res.Pushes[i])] = true
		}
	}
	return b.seen[pushKey(p)]
}

func pushKey(p *Push) string { return p.Host + "\x00" + p.Repository + "\x00" + p.Tag }

// merge adds what another decoder found (a format embedded in this one's
// events): its pushes pass the shared rules again, so a push reported by
// both is one push; its skips are kept as they are.
func (b *resultBuilder) merge(res Result) {
	for _, p := range res.Pushes {
		b.add(candidate{Push: p})
	}
	b.res.Skipped = append(b.res.Skipped, res.Skipped...)
}

func (b *resultBuilder) result() Result { return b.res }
