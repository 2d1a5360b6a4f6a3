package formats

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
)

// The "distribution" format is the notification envelope of the CNCF
// distribution registry (the reference "registry:2/3" image), media type
// application/vnd.docker.distribution.events.v2+json:
//
//	{"events": [{"id": "…", "timestamp": "…", "action": "push",
//	             "target": {"mediaType": "…", "digest": "…", "repository": "team/app",
//	                        "url": "…", "tag": "1.2.3", "references": [ … ]},
//	             "request": {"host": "registry.example.com:5000", "method": "PUT", …}, …}]}
//
// Reference: https://distribution.github.io/distribution/about/notifications/
// (docs/content/about/notifications.md in github.com/distribution/distribution)
// and notifications/event.go and bridge.go of the same repository.
//
// GitLab's container registry is a fork of distribution and sends the same
// envelope, so a GitLab registry's notification endpoint can point at a
// receiver of this format too.
//
// How a real registry sends (observed with distribution v3.1.2): one event per
// HTTP request, although the envelope and older versions allow N >= 1; blob
// pushes arrive as events with target.mediaType application/octet-stream;
// manifest pushes carry the manifest media type and, when the push named a
// tag, target.tag; pulls (GET and HEAD), mounts and deletes are events too.
// The registry retries a non-2xx answer for the same event forever and blocks
// every later event behind it, so this decoder errs only when the body is not
// an envelope at all; every well-formed event it does not want is a Skip.
//
// What becomes a Push: action "push" of a manifest or index media type
// (Docker schema2 manifest and manifest list, OCI manifest and index, Docker
// schema1) with a tag and a repository. A multi-arch index pushed with a tag
// gives one Push for that tag: its per-platform manifests are pushed by digest
// and are skipped as such. OCI artifacts that are not container images are
// skipped when the event says so: an artifactType on the target (if a sender
// adds one; v3.1.2 does not) or, with notifications.events.includereferences,
// a config or layer media type in target.references that is not an image's
// (helm chart, empty config, signature, attestation, SBOM). Without
// references an oras artifact looks exactly like an image push and passes.
func init() { register("distribution", decodeDistribution) }

// distEnvelope is the envelope. Events is a pointer so that a missing or
// null "events" (not this format) differs from an empty list.
type distEnvelope struct {
	Events *[]distEvent `json:"events"`
}

// distEvent holds only the fields the decoder reads; distribution's own
// type has more (actor, source, length, size, fromRepository, and
// request.method, which tells a GET pull from a HEAD).
type distEvent struct {
	ID        string      `json:"id"`
	Timestamp eventTime   `json:"timestamp"`
	Action    string      `json:"action"`
	Target    distTarget  `json:"target"`
	Request   distRequest `json:"request"`
}

type distTarget struct {
	MediaType    string           `json:"mediaType"`
	ArtifactType string           `json:"artifactType"`
	Digest       string           `json:"digest"`
	Repository   string           `json:"repository"`
	URL          string           `json:"url"`
	Tag          string           `json:"tag"`
	References   []distDescriptor `json:"references"`
}

type distRequest struct {
	Host string `json:"host"`
}

// distDescriptor is one entry of target.references.
type distDescriptor struct {
	MediaType string `json:"mediaType"`
}

// The fast path's readers of the envelope (fastpath.go): the same fields
// as the json tags above, in the same order.

var (
	distEnvelopeKeys   = []string{"events"}
	distEventKeys      = []string{"id", "timestamp", "action", "target", "request"}
	distTargetKeys     = []string{"mediaType", "artifactType", "digest", "repository", "url", "tag", "references"}
	distRequestKeys    = []string{"host"}
	distDescriptorKeys = []string{"mediaType"}
)

func (e *distEnvelope) readFast(obj gjson.Result) bool {
	var q distEnvelope
	ok := readMembers(obj, distEnvelopeKeys, func(_ int, v gjson.Result) bool {
		if v.Type == gjson.Null {
			return true
		}
		events := make([]distEvent, 0, 1)
		q.Events = &events
		return readArray(v, func(v gjson.Result) bool {
			var ev distEvent
			ok := ev.readFast(v)
			events = append(events, ev)
			return ok
		})
	})
	if ok {
		*e = q
	}
	return ok
}

func (e *distEvent) readFast(obj gjson.Result) bool {
	var q distEvent
	ok := readMembers(obj, distEventKeys, func(i int, v gjson.Result) bool {
		switch i {
		case 0:
			return readString(v, &q.ID)
		case 1:
			return readEventTime(v, &q.Timestamp)
		case 2:
			return readString(v, &q.Action)
		case 3:
			return v.Type == gjson.Null || q.Target.readFast(v)
		default:
			return v.Type == gjson.Null || readMembers(v, distRequestKeys, func(_ int, v gjson.Result) bool { return readString(v, &q.Request.Host) })
		}
	})
	if ok {
		*e = q
	}
	return ok
}

func (t *distTarget) readFast(obj gjson.Result) bool {
	var q distTarget
	fields := [...]*string{&q.MediaType, &q.ArtifactType, &q.Digest, &q.Repository, &q.URL, &q.Tag}
	ok := readMembers(obj, distTargetKeys, func(i int, v gjson.Result) bool {
		if i < len(fields) {
			return readString(v, fields[i])
		}
		if v.IsArray() {
			q.References = []distDescriptor{}
		}
		return readArray(v, func(v gjson.Result) bool {
			var d distDescriptor
			ok := readMembers(v, distDescriptorKeys, func(_ int, v gjson.Result) bool { return readString(v, &d.MediaType) })
			q.References = append(q.References, d)
			return ok
		})
	})
	if ok {
		*t = q
	}
	return ok
}

// Reasons only the distribution decoder gives for events it passes over;
// the shared ones (pull, delete, by digest, …) are in decode.go.
const (
	reasonMount       = "blob mount event"
	reasonBlobPush    = "blob push, not a manifest"
	reasonNoMediaType = "push without a media type"
	reasonNoAction    = "event without an action"
)

func decodeDistribution(body []byte, _ http.Header) (Result, error) {
	var env distEnvelope
	if err := decodeObject(body, &env); err != nil {
		return Result{}, err
	}
	if env.Events == nil {
		return Result{}, errNoEvents
	}
	var res Result
	for i := range *env.Events {
		ev := &(*env.Events)[i]
		p, skip := distributionEvent(ev)
		if skip.Reason != "" {
			res.Skipped = append(res.Skipped, skip)
			continue
		}
		res.Pushes = append(res.Pushes, p)
	}
	return res, nil
}

// errNoEvents marks an object without an "events" array: not an envelope.
var errNoEvents = errors.New(`no "events" array`)

// distributionEvent turns one event into a Push, or into a Skip with a
// reason when it is anything but a tagged image push.
func distributionEvent(ev *distEvent) (Push, Skip) {
	t := &ev.Target
	tag := t.Tag
	if looksLikeDigest(tag) {
		tag = ""
	}
	ref := func() string { return refString(t.Repository, tag, t.Digest) }
	switch strings.ToLower(ev.Action) {
	case "push":
	case "pull":
		return Push{}, Skip{Ref: ref(), Reason: reasonPull}
	case "mount":
		return Push{}, Skip{Ref: ref(), Reason: reasonMount}
	case "delete":
		return Push{}, Skip{Ref: ref(), Reason: reasonDelete}
	case "":
		return Push{}, Skip{Ref: ref(), Reason: reasonNoAction}
	default:
		return Push{}, Skip{Ref: ref(), Reason: fmt.Sprintf("unsupported action %q", Clip(ev.Action, 40))}
	}

	mt := normalizeMediaType(t.MediaType)
	switch {
	case mt == "":
		return Push{}, Skip{Ref: ref(), Reason: reasonNoMediaType}
	case mt == mediaTypeOCIArtifactManifest:
		return Push{}, Skip{Ref: ref(), Reason: describeArtifact(mt)}
	case !isManifestMediaType(mt):
		return Push{}, Skip{Ref: ref(), Reason: reasonBlobPush}
	}
	if t.Repository == "" {
		return Push{}, Skip{Ref: Clip(t.URL, 300), Reason: reasonNoRepository}
	}
	if tag == "" {
		return Push{}, Skip{Ref: ref(), Reason: reasonByDigest}
	}
	if reason := artifactTypeReason(t.ArtifactType); reason != "" {
		return Push{}, Skip{Ref: ref(), Reason: reason}
	}
	if !isIndexMediaType(mt) {
		if reason := referencesReason(t.References); reason != "" {
			return Push{}, Skip{Ref: ref(), Reason: reason}
		}
	}
	if reason := tagSkipReason(tag); reason != "" {
		return Push{}, Skip{Ref: ref(), Reason: reason}
	}
	if reason := refProblem(t.Repository, tag); reason != "" {
		return Push{}, Skip{Ref: Clip(ref(), 300), Reason: reason}
	}
	host := strings.ToLower(ev.Request.Host)
	if host == "" {
		host = urlHost(t.URL)
	}
	return Push{
		Host:       host,
		Repository: t.Repository,
		Tag:        tag,
		Digest:     t.Digest,
		MediaType:  t.MediaType,
		PushedAt:   ev.Timestamp.Time,
		EventID:    ev.ID,
	}, Skip{}
}

// referencesReason judges a manifest by the descriptors distribution lists
// in target.references (config first, then layers, as the manifest's
// References() returns them). A container image has an image config and
// tar layers; anything else is named by the most telling descriptor: a
// recognised config (helm, cnab, …), else a recognised layer (cosign
// simple signing, spdx, in-toto, …), else the odd config, else the odd
// layer. No references means nothing is known: "".
func referencesReason(refs []distDescriptor) string {
	if len(refs) == 0 {
		return ""
	}
	config := normalizeMediaType(refs[0].MediaType)
	oddConfig := config != "" && !imageConfigTypes[config]
	if k := artifactKind(config); oddConfig && k != "" && k != "oci artifact" {
		return describeArtifact(config)
	}
	var oddLayer string
	for _, l := range refs[1:] {
		mt := normalizeMediaType(l.MediaType)
		if mt == "" || isImageLayerMediaType(mt) {
			continue
		}
		if artifactKind(mt) != "" {
			return describeArtifact(mt)
		}
		if oddLayer == "" {
			oddLayer = mt
		}
	}
	switch {
	case oddConfig:
		return describeArtifact(config)
	case oddLayer != "":
		return describeArtifact(oddLayer)
	}
	return ""
}
