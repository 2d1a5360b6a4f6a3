package formats

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
)

// Huawei Cloud EventGrid (EG) events from SWR as a cloud-service event
// source, delivered to an HTTP/HTTPS webhook target of an EG subscription.
// EG lists SWR among its cloud-service sources and delivers CloudEvents 1.0
// JSON; cloud-service events are derived from Cloud Trace Service (CTS)
// audit records, with types like "<SVC>:CloudTrace:ApiCall".
// https://support.huaweicloud.com/intl/en-us/usermanual-eg/eg-ug-030.html
//
// Huawei publishes neither the SWR event types nor the data schema, so this
// decoder reads defensively and makes a push only of what plainly is one:
//   - the envelope is a structured event ({"specversion","id","source",
//     "type","time","subject","data"} or data_base64), an array of them,
//     EG's publishing batch form {"events":[…]}, or binary mode (ce-*
//     headers, the body is the data);
//   - the action is read from data's trace_name, event_name, operation
//     or action, and last from the type's last segment (after ":", "." or
//     "/"): it is a push when its words are a push verb (push, pushed) or
//     an upload/create/put verb with an image object (image, tag,
//     artifact, manifest), and nothing else but "version" or "new", so
//     createTag,
//     uploadImage, pushImage, PUSH_ARTIFACT or "image:push" are pushes
//     while createRepo, createNamespace or createImageSyncRepo are not;
//   - a trace whose code is 400 or more recorded a failed call, no push;
//   - the image is read from data, or from one of its members request
//     (an object or a JSON string, as CTS records request bodies),
//     resource, detail or image: namespace (namespace, namespace_name,
//     organization), repository (repository, repo, repo_name,
//     repository_name, image, image_name, with "$" read as "/" as in SWR
//     API paths, or a reference "ns/repo:tag"), tag (tag, tag_name,
//     image_tag, version, image_version) and digest; or from a reference
//     in data's resource_name or the event's subject.
//
// Everything else is answered as ignored with a reason naming the type and
// the trace, so an operator can read the real event type in the answer or
// the log and adjust (docs/registries/huawei-eventgrid.md). The event id is
// the CloudEvent id (else the trace's trace_id) and the push time the
// event's time (else the trace's time or record_time).

func init() { register("huawei-eventgrid", decodeHuaweiEventGrid) }

// egEvent is one structured-mode event (cloudevents.go's cloudEvent);
// data stays raw until read.
type egEvent = cloudEvent

func decodeHuaweiEventGrid(body []byte, header http.Header) (Result, error) {
	var b resultBuilder
	if ev, ok, err := binaryEvent(body, header); ok {
		if err != nil {
			return Result{}, err
		}
		if len(ev.Data) > 0 && !json.Valid(ev.Data) {
			return Result{}, errors.New("binary mode data is not JSON")
		}
		addEGEvent(&b, &ev)
		return b.result(), nil
	}
	events, err := egEvents(body)
	if err != nil {
		return Result{}, err
	}
	for i := range events {
		if events[i].SpecVersion == "" || events[i].Type == "" {
			return Result{}, fmt.Errorf("event %d: %w", i, errNotCloudEvent)
		}
		addEGEvent(&b, &events[i])
	}
	return b.result(), nil
}

// egEvents reads one structured event, an array of them, or {"events":[…]}.
func egEvents(body []byte) ([]egEvent, error) {
	trimmed := bytes.TrimSpace(body)
	var events []egEvent
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &events); err != nil {
			return nil, fmt.Errorf("decode batch: %w", err)
		}
	} else {
		var top struct {
			egEvent
			Events *[]egEvent `json:"events"`
		}
		if err := decodeObject(body, &top); err != nil {
			return nil, err
		}
		if top.Events == nil {
			return []egEvent{top.egEvent}, nil
		}
		if top.SpecVersion != "" || top.Type != "" {
			return nil, errors.New(`"events" cannot be combined with an event's own members`)
		}
		events = *top.Events
	}
	if len(events) == 0 {
		return nil, errors.New("no events in the batch")
	}
	return events, nil
}

// egData is what the decoder reads of an event's data; every member is
// optional and of any JSON type.
type egData map[string]json.RawMessage

// str returns the first of keys that holds a string or a number, trimmed.
func (d egData) str(keys ...string) string {
	for _, k := range keys {
		raw, ok := d[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if s = strings.TrimSpace(s); s != "" {
				return s
			}
			continue
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
	}
	return ""
}

// object returns member k as data: an object, or a string holding one.
func (d egData) object(k string) egData {
	raw := bytes.TrimSpace(d[k])
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = bytes.TrimSpace([]byte(s))
	}
	var o egData
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &o) != nil {
		return nil
	}
	return o
}

// addEGEvent applies the rules of the file comment to one event.
func addEGEvent(b *resultBuilder, ev *egEvent) {
	raw := bytes.TrimSpace(ev.Data)
	if len(raw) == 0 && ev.DataBase64 != "" {
		if dec, err := base64.StdEncoding.DecodeString(ev.DataBase64); err == nil {
			raw = bytes.TrimSpace(dec)
		}
	}
	var data egData
	if len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &data) // not an object: no data members
	}
	kind := Clip(strings.TrimSpace(ev.Type), 100)
	trace := Clip(data.str("trace_name", "event_name", "operation", "action"), 100)
	subject := cmp.Or(data.str("resource_name"), strings.TrimSpace(ev.Subject))
	describe := "huawei eventgrid " + kind + " event"
	if trace != "" {
		describe += " (" + trace + ")"
	}
	switch egActionOf(trace, kind) {
	case egDelete:
		b.skip(Clip(subject, 200), reasonDelete)
		return
	case egPull:
		b.skip(Clip(subject, 200), reasonPull)
		return
	case egOther:
		b.skip(Clip(subject, 200), describe+", not an image push")
		return
	}
	if code, err := strconv.Atoi(data.str("code")); err == nil && code >= 400 {
		b.skip(Clip(subject, 200), fmt.Sprintf("%s recorded a failed call (code %d), not a push", describe, code))
		return
	}
	p, ok := egImage(data, subject)
	if !ok {
		b.skip(Clip(subject, 200), describe+" names no repository and tag")
		return
	}
	p.EventID = Clip(cmp.Or(strings.TrimSpace(ev.ID), data.str("trace_id")), 256)
	p.PushedAt = parseTime(ev.Time)
	if p.PushedAt.IsZero() {
		p.PushedAt = rawEventTime(cmp.Or(string(data["time"]), string(data["record_time"])))
	}
	b.add(candidate{Push: p})
}

// egImage finds the pushed image in data, in its request, resource,
// detail or image member, or in a reference (resource_name, subject).
func egImage(data egData, ref string) (Push, bool) {
	for _, d := range []egData{data, data.object("request"), data.object("resource"), data.object("detail"), data.object("image")} {
		if p, ok := egImageIn(d); ok {
			return p, true
		}
	}
	if r, ok := parseRef(strings.ReplaceAll(ref, "$", "/")); ok && r.Tag != "" && strings.Contains(r.Repository, "/") {
		return Push{Host: r.Host, Repository: r.Repository, Tag: r.Tag, Digest: egDigest(r.Digest)}, true
	}
	return Push{}, false
}

// egImageIn reads namespace, repository, tag and digest from one object.
func egImageIn(d egData) (Push, bool) {
	if d == nil {
		return Push{}, false
	}
	ns := d.str("namespace", "namespace_name", "organization")
	repo := strings.ReplaceAll(d.str("repository", "repo", "repo_name", "repository_name", "image", "image_name"), "$", "/")
	tag := d.str("tag", "tag_name", "image_tag", "version", "image_version")
	digest := egDigest(d.str("digest", "manifest_digest"))
	var host string
	if r, ok := parseRef(repo); ok && (r.Host != "" || r.Tag != "" || r.Digest != "") {
		// A reference, "swr.example/ns/repo:tag": its parts fill what the
		// members leave out.
		host, repo, tag, digest = r.Host, r.Repository, cmp.Or(tag, r.Tag), cmp.Or(digest, egDigest(r.Digest))
	}
	if repo == "" || tag == "" {
		return Push{}, false
	}
	if ns != "" && !strings.HasPrefix(repo, ns+"/") {
		repo = ns + "/" + repo
	}
	return Push{Host: host, Repository: repo, Tag: tag, Digest: digest}, true
}

// egDigest keeps a digest only when it looks like one.
func egDigest(s string) string {
	if looksLikeDigest(s) {
		return s
	}
	return ""
}

// egAction is what an event's names say it did.
type egAction int

const (
	egOther egAction = iota
	egPush
	egDelete
	egPull
)

// egActionOf classifies the trace name, else the type's last segment.
func egActionOf(trace, kind string) egAction {
	for _, name := range []string{trace, lastSegment(kind)} {
		if a := egClassify(name); a != egOther {
			return a
		}
	}
	return egOther
}

func lastSegment(s string) string {
	if i := strings.LastIndexAny(s, ":./"); i >= 0 {
		return s[i+1:]
	}
	return s
}

var (
	egPushVerbs    = map[string]bool{"push": true, "pushed": true}
	egCreateVerbs  = map[string]bool{"upload": true, "uploaded": true, "create": true, "created": true, "put": true}
	egImageObjects = map[string]bool{"image": true, "images": true, "tag": true, "tags": true, "artifact": true,
		"artifacts": true, "manifest": true, "manifests": true}
	// egFillers may stand beside a verb and an object ("create image
	// version") but make no push by themselves.
	egFillers     = map[string]bool{"version": true, "new": true}
	egDeleteWords = map[string]bool{"delete": true, "deleted": true, "remove": true, "removed": true}
	egPullWords   = map[string]bool{"pull": true, "pulled": true, "download": true, "downloaded": true}
)

// egClassify reads one name as words (camelCase, snake_case, kebab-case):
// a push is a push verb, or an upload/create verb with an image object,
// with no other word; a delete or pull word anywhere is that.
func egClassify(name string) egAction {
	words := egWords(name)
	if len(words) == 0 || len(words) > 6 {
		return egOther
	}
	var push, create, object bool
	for _, w := range words {
		switch {
		case egDeleteWords[w]:
			return egDelete
		case egPullWords[w]:
			return egPull
		}
	}
	for _, w := range words {
		switch {
		case egPushVerbs[w]:
			push = true
		case egCreateVerbs[w]:
			create = true
		case egImageObjects[w]:
			object = true
		case egFillers[w]:
		default:
			return egOther
		}
	}
	if push || create && object {
		return egPush
	}
	return egOther
}

// egWords splits a name into lower-case words at case changes and at
// anything that is not a letter or digit.
func egWords(name string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && len(cur) > 0 &&
			(!unicode.IsUpper(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return words
}
