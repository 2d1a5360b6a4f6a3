package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// The "generic" format is scan-bridge's own, for senders that are not a
// registry with a webhook of its own: CI pipelines, release scripts, a
// registry's event bridge written in a few lines of shell. It is strict on
// purpose, unlike the registry formats: its senders are scripts written
// against this spec, and a typo must fail loudly (400) rather than be
// skipped quietly.
//
// A body is either an envelope of one or more events
//
//	{"events": [
//	  {"repository": "team/app", "tag": "1.2.3",
//	   "digest": "sha256:4f98543ac6f792c1352e8c5a0555601ab3fd3497810581606c36c7416c5ffe37",
//	   "registry": "registry.example.com:5000",
//	   "pushed_at": "2025-06-01T12:00:00Z",
//	   "id": "pipeline-4711-push-1",
//	   "instance_url": "team-registry.example.com"}
//	]}
//
// or one event object without the envelope. Fields (all strings; null is the
// same as absent):
//
//	repository    required. Repository path without the registry host,
//	              lower-case components separated by "/", e.g. "team/app";
//	              the first component is the SWR namespace.
//	tag           the pushed tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}). Absent
//	              or empty: the event is skipped as "push by digest without a
//	              tag" (HSS scans tags, not digests).
//	digest        optional manifest digest, "sha256:<hex>" (sha384 and
//	              sha512 too).
//	registry      optional registry host[:port], no scheme, no path.
//	pushed_at     optional push time, RFC 3339.
//	id            optional event id of the sender, kept for tracing.
//	instance_url  optional, SWR Enterprise Edition: the host the image is
//	              pulled from (HSS instance_url).
//
// Errors (the whole body is refused, nothing is queued): a body that is not
// a JSON object; an unknown field (at the top or in an event); "events"
// beside other top-level fields; "events" not a non-empty array of objects;
// a field that is not a string; a missing or invalid repository; a
// repository that starts with a registry host; an invalid tag, digest,
// registry or pushed_at. Skipped: an event without a tag, and a tag that is
// a cosign signature, attestation or SBOM (sha256-<hex>.sig/.att/.sbom) or
// an OCI referrers tag (sha256-<hex>), which are not images.
//
// The same spec, with a complete example, is in docs/formats/generic.md.
func init() { register("generic", decodeGeneric) }

// genericFields are the fields of an event, in the order errors list them.
var genericFields = []string{"repository", "tag", "digest", "registry", "pushed_at", "id", "instance_url"}

// genericError says which field of which event is wrong, so the 400 answer
// can tell a pipeline author exactly what to fix.
type genericError struct {
	Event   int    // index in "events"; 0 for a single event
	Field   string // JSON field name, "" for the body or the event itself
	Problem string
}

func (e *genericError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("event %d: %s", e.Event, e.Problem)
	}
	return fmt.Sprintf("event %d: %s: %s", e.Event, e.Field, e.Problem)
}

// errGenericEvents marks a malformed "events" member.
var errGenericEvents = errors.New(`"events" must be a non-empty array of event objects`)

// errGenericMixed marks an envelope with event fields beside "events".
var errGenericMixed = errors.New(`"events" cannot be combined with other top-level fields`)

// genericEvent is one decoded and checked event.
type genericEvent struct {
	repository, tag, digest, registry, id, instanceURL string
	pushedAt                                           time.Time
}

func decodeGeneric(body []byte, _ http.Header) (Result, error) {
	events, err := genericEvents(body)
	if err != nil {
		return Result{}, err
	}
	var res Result
	for _, ev := range events {
		ref := refString(ev.repository, ev.tag, ev.digest)
		if ev.tag == "" {
			res.Skipped = append(res.Skipped, Skip{Ref: ref, Reason: reasonByDigest})
			continue
		}
		if reason := tagSkipReason(ev.tag); reason != "" {
			res.Skipped = append(res.Skipped, Skip{Ref: ref, Reason: reason})
			continue
		}
		res.Pushes = append(res.Pushes, Push{
			Host:        ev.registry,
			Repository:  ev.repository,
			Tag:         ev.tag,
			Digest:      ev.digest,
			PushedAt:    ev.pushedAt,
			EventID:     ev.id,
			InstanceURL: ev.instanceURL,
		})
	}
	return res, nil
}

// genericValues are an event's fields in genericFields order.
type genericValues [7]string

// genericEvents reads and checks every event of a body. The fast path
// (fastpath.go) reads a body whose events hold only known fields with
// string or null values; anything else, including every body that is
// refused for its shape, is read through encoding/json as before, event
// by event, so the first error is the same either way.
func genericEvents(body []byte) ([]genericEvent, error) {
	if vals, ok := genericValuesFast(body); ok {
		events := make([]genericEvent, len(vals))
		for i := range vals {
			ev, err := checkGenericEvent(i, &vals[i])
			if err != nil {
				return nil, err
			}
			events[i] = ev
		}
		return events, nil
	}
	var top map[string]json.RawMessage
	if err := decodeObject(body, &top); err != nil {
		return nil, err
	}
	objects := []map[string]json.RawMessage{top}
	if raw, ok := top["events"]; ok {
		if len(top) > 1 {
			return nil, errGenericMixed
		}
		objects = nil
		if err := json.Unmarshal(raw, &objects); err != nil || len(objects) == 0 {
			return nil, errGenericEvents
		}
	}
	events := make([]genericEvent, 0, len(objects))
	for i, fields := range objects {
		ev, err := parseGenericEvent(i, fields)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return events, nil
}

// genericTopKeys are the members a generic body may have at the top.
var genericTopKeys = append([]string{"events"}, genericFields...)

// genericValuesFast reads the values of every event of a body without
// reflection: a body with only "events", a non-empty array of objects, or
// a single event object, whose members are all known fields with a
// string or null value. It reports false for any other body.
func genericValuesFast(body []byte) ([]genericValues, bool) {
	obj, ok := fastObject(body)
	if !ok {
		return nil, false
	}
	var events gjson.Result
	var single genericValues
	fields := false // beside "events", even null ones: the body is refused
	ok = readKnownMembers(obj, genericTopKeys, func(i int, v gjson.Result) bool {
		if i == 0 {
			events = v
			return true
		}
		fields = true
		return readString(v, &single[i-1])
	})
	switch {
	case !ok:
		return nil, false
	case !events.Exists():
		return []genericValues{single}, true
	case fields || !events.IsArray():
		return nil, false
	}
	var vals []genericValues
	ok = readArray(events, func(v gjson.Result) bool {
		var ev genericValues
		ok := readKnownMembers(v, genericFields, func(i int, v gjson.Result) bool { return readString(v, &ev[i]) })
		vals = append(vals, ev)
		return ok
	})
	return vals, ok && len(vals) > 0
}

// parseGenericEvent reads and checks one event object.
func parseGenericEvent(i int, fields map[string]json.RawMessage) (genericEvent, error) {
	vals, err := genericEventValues(i, fields)
	if err != nil {
		return genericEvent{}, err
	}
	return checkGenericEvent(i, &vals)
}

// genericEventValues reads the values of event i with encoding/json.
func genericEventValues(i int, fields map[string]json.RawMessage) (genericValues, error) {
	var vals genericValues
	if fields == nil {
		return vals, &genericError{Event: i, Problem: "must be an object"}
	}
	if unknown := unknownGenericField(fields); unknown != "" {
		return vals, &genericError{Event: i, Field: unknown, Problem: "unknown field (known: " + strings.Join(genericFields, ", ") + ")"}
	}
	for f, name := range genericFields {
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, &vals[f]); err != nil {
			return vals, &genericError{Event: i, Field: name, Problem: "must be a string"}
		}
	}
	return vals, nil
}

// checkGenericEvent checks the values of event i.
func checkGenericEvent(i int, vals *genericValues) (genericEvent, error) {
	ev := genericEvent{
		repository: vals[0], tag: vals[1], digest: vals[2], registry: vals[3],
		id: vals[5], instanceURL: vals[6],
	}
	switch {
	case ev.repository == "":
		return genericEvent{}, &genericError{Event: i, Field: "repository", Problem: "is required"}
	case startsWithRegistryHost(ev.repository):
		return genericEvent{}, &genericError{Event: i, Field: "repository", Problem: fmt.Sprintf("%q starts with a registry host; put the host in \"registry\"", Clip(ev.repository, 80))}
	case !validRepository(ev.repository):
		return genericEvent{}, &genericError{Event: i, Field: "repository", Problem: fmt.Sprintf("%q is not a repository path (lower-case components separated by \"/\")", Clip(ev.repository, 80))}
	case ev.tag != "" && looksLikeDigest(ev.tag):
		return genericEvent{}, &genericError{Event: i, Field: "tag", Problem: "is a digest; put it in \"digest\" and leave the tag empty"}
	case ev.tag != "" && !validTag(ev.tag):
		return genericEvent{}, &genericError{Event: i, Field: "tag", Problem: fmt.Sprintf("%q is not a valid tag", Clip(ev.tag, 80))}
	case ev.digest != "" && !looksLikeDigest(ev.digest):
		return genericEvent{}, &genericError{Event: i, Field: "digest", Problem: fmt.Sprintf("%q is not a digest like sha256:<hex>", Clip(ev.digest, 80))}
	case ev.registry != "" && !validRegistryHost(ev.registry):
		return genericEvent{}, &genericError{Event: i, Field: "registry", Problem: fmt.Sprintf("%q is not a host[:port] (no scheme, no path)", Clip(ev.registry, 80))}
	}
	if s := vals[4]; s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return genericEvent{}, &genericError{Event: i, Field: "pushed_at", Problem: fmt.Sprintf("%q is not an RFC 3339 time", Clip(s, 80))}
		}
		ev.pushedAt = t.UTC()
	}
	return ev, nil
}

// unknownGenericField returns the first (sorted) field that is not in the
// spec, or "". Sorting keeps the error the same for the same body.
func unknownGenericField(fields map[string]json.RawMessage) string {
	var unknown []string
	for k := range fields {
		if !slices.Contains(genericFields, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return ""
	}
	slices.Sort(unknown)
	return unknown[0]
}

// startsWithRegistryHost reports whether a repository path begins with a
// registry host, by the rule parseRef uses.
func startsWithRegistryHost(repo string) bool {
	first, _, ok := strings.Cut(repo, "/")
	return ok && isRegistryHost(first)
}
