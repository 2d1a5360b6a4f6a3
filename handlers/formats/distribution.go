package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
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
	Timestamp lenientTime `json:"timestamp"`
	Action    string      `json:"action"`
	Target    struct {
		MediaType    string           `json:"mediaType"`
		ArtifactType string           `json:"artifactType"`
		Digest       string           `json:"digest"`
		Repository   string           `json:"repository"`
		URL          string           `json:"url"`
		Tag          string           `json:"tag"`
		References   []distDescriptor `json:"references"`
	} `json:"target"`
	Request struct {
		Host string `json:"host"`
	} `json:"request"`
}

// distDescriptor is one entry of target.references.
type distDescriptor struct {
	MediaType string `json:"mediaType"`
}

// Reasons the distribution decoder gives for events it passes over.
const (
	reasonPull        = "pull event"
	reasonMount       = "blob mount event"
	reasonDelete      = "delete event"
	reasonBlobPush    = "blob push, not a manifest"
	reasonNoMediaType = "push without a media type"
	reasonNoAction    = "event without an action"
)

func decodeDistribution(body []byte, _ http.Header) (Result, error) {
	if err := requireJSONObject(body); err != nil {
		return Result{}, fmt.Errorf("distribution envelope: %w", err)
	}
	var env distEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Result{}, fmt.Errorf("decode distribution envelope: %w", err)
	}
	if env.Events == nil {
		return Result{}, fmt.Errorf("distribution envelope: %w", errNoEvents)
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
	ref := refString(t.Repository, tag, t.Digest)
	switch strings.ToLower(ev.Action) {
	case "push":
	case "pull":
		return Push{}, Skip{Ref: ref, Reason: reasonPull}
	case "mount":
		return Push{}, Skip{Ref: ref, Reason: reasonMount}
	case "delete":
		return Push{}, Skip{Ref: ref, Reason: reasonDelete}
	case "":
		return Push{}, Skip{Ref: ref, Reason: reasonNoAction}
	default:
		return Push{}, Skip{Ref: ref, Reason: fmt.Sprintf("unsupported action %q", clip(ev.Action, 40))}
	}

	mt := normalizeMediaType(t.MediaType)
	switch {
	case mt == "":
		return Push{}, Skip{Ref: ref, Reason: reasonNoMediaType}
	case mt == mediaTypeOCIArtifactManifest:
		return Push{}, Skip{Ref: ref, Reason: describeArtifact(mt)}
	case !isManifestMediaType(mt):
		return Push{}, Skip{Ref: ref, Reason: reasonBlobPush}
	}
	if t.Repository == "" {
		return Push{}, Skip{Ref: clip(t.URL, 300), Reason: reasonNoRepository}
	}
	if tag == "" {
		return Push{}, Skip{Ref: ref, Reason: reasonByDigest}
	}
	if reason := artifactTypeReason(t.ArtifactType); reason != "" {
		return Push{}, Skip{Ref: ref, Reason: reason}
	}
	if !isIndexMediaType(mt) {
		if reason := referencesReason(t.References); reason != "" {
			return Push{}, Skip{Ref: ref, Reason: reason}
		}
	}
	if reason := tagSkipReason(tag); reason != "" {
		return Push{}, Skip{Ref: ref, Reason: reason}
	}
	if reason := refProblem(t.Repository, tag); reason != "" {
		return Push{}, Skip{Ref: clip(ref, 300), Reason: reason}
	}
	host := ev.Request.Host
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

// urlHost is the host[:port] of an absolute URL, or "".
func urlHost(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// ---------------------------------------------------------------------------
// Helpers the decoders of harbor.go, swr_enterprise.go and generic.go share
// with this one. The rules common to every format (image manifest and config
// types, artifact kinds, cosign and referrers tags, digests, clip,
// refString) are in mediatypes.go; what is here is what those do not cover:
// the layer types of an image, target.references, the reference grammar,
// Harbor's resource_url forms and lenient event times.

// Skip reasons shared by several of these formats.
const (
	reasonByDigest     = "push by digest without a tag"
	reasonNoRepository = "push without a repository name"
)

// notAnImage words the reason for an artifact HSS cannot scan, in the
// words describeArtifact uses.
func notAnImage(kind string) string { return kind + ", not a container image" }

// Media types this file needs beyond mediatypes.go's tables.
const (
	mediaTypeDockerManifestList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeOCIIndex            = "application/vnd.oci.image.index.v1+json"
	mediaTypeOCIArtifactManifest = "application/vnd.oci.artifact.manifest.v1+json"
	mediaTypePrefixOCILayer      = "application/vnd.oci.image.layer."
	mediaTypePrefixDockerLayer   = "application/vnd.docker.image.rootfs."
	mediaTypePrefixDockerV1Layer = "application/vnd.docker.container.image.rootfs."
)

// normalizeMediaType lower-cases a media type and drops its parameters.
func normalizeMediaType(mt string) string {
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(mt)
	for i := 0; i < len(mt); i++ {
		if c := mt[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(mt)
		}
	}
	return mt
}

func isManifestMediaType(mt string) bool { return imageManifestTypes[mt] }

func isIndexMediaType(mt string) bool {
	return mt == mediaTypeDockerManifestList || mt == mediaTypeOCIIndex
}

// isImageLayerMediaType recognises the tar layers of OCI and Docker images
// (plain, gzip, zstd, non-distributable and foreign variants).
func isImageLayerMediaType(mt string) bool {
	return strings.HasPrefix(mt, mediaTypePrefixOCILayer) ||
		strings.HasPrefix(mt, mediaTypePrefixDockerLayer) ||
		strings.HasPrefix(mt, mediaTypePrefixDockerV1Layer)
}

// artifactTypeReason judges an OCI 1.1 artifactType: "" for none or for an
// image config type (what registries report for plain images), else why the
// manifest is not an image.
func artifactTypeReason(artifactType string) string {
	at := normalizeMediaType(artifactType)
	if at == "" || imageConfigTypes[at] {
		return ""
	}
	return describeArtifact(at)
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

// refProblem checks a repository and tag against the reference grammar and
// says what is wrong, or "". Registries enforce the grammar themselves, so
// a failure means the body did not come from one; it is still answered as a
// Skip, not an error, so a sender is never blocked on it.
func refProblem(repository, tag string) string {
	if !validRepository(repository) {
		return fmt.Sprintf("invalid repository name %q", clip(repository, 80))
	}
	if !validTag(tag) {
		return fmt.Sprintf("invalid tag %q", clip(tag, 80))
	}
	return ""
}

// maxRepositoryLength is distribution's NameTotalLengthMax.
const maxRepositoryLength = 255

// validRepository reports whether s is a repository path as
// distribution/reference defines it: slash-separated components of
// [a-z0-9]+ joined by ".", "_", "__" or runs of "-", at most 255 bytes, no
// registry host.
func validRepository(s string) bool {
	if s == "" || len(s) > maxRepositoryLength {
		return false
	}
	for {
		comp, rest, more := strings.Cut(s, "/")
		if !validPathComponent(comp) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

func validPathComponent(s string) bool {
	n := len(s)
	if n == 0 || !isLowerAlnum(s[0]) || !isLowerAlnum(s[n-1]) {
		return false
	}
	for i := 1; i < n; {
		c := s[i]
		if isLowerAlnum(c) {
			i++
			continue
		}
		switch c {
		case '.':
			i++
		case '_':
			i++
			if i < n && s[i] == '_' {
				i++
			}
		case '-':
			for i < n && s[i] == '-' {
				i++
			}
		default:
			return false
		}
		if i >= n || !isLowerAlnum(s[i]) {
			return false
		}
	}
	return true
}

// validTag reports whether s matches [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validTag(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isAlnum(c byte) bool      { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }

// splitImageRef splits an image reference as registries print it,
// "host[:port]/ns/repo:tag" or "…/repo@sha256:…" (Harbor's resource_url;
// Harbor 2.0 also wrote "…/repo:sha256:…"), into its parts. A leading
// scheme is dropped. The first path component is a host only when it looks
// like one (a "." or ":" in it, or "localhost"), the rule docker and
// distribution/reference use. Unlike parseRef (mediatypes.go) it splits the
// tag at the first ":" of the last path component, so Harbor 2.0's
// "repo:sha256:<hex>" yields a digest, not the tag "<hex>".
func splitImageRef(s string) (host, repository, tag, digest string) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		digest = s[i+1:]
		s = s[:i]
	}
	last := strings.LastIndexByte(s, '/') + 1
	if i := strings.IndexByte(s[last:], ':'); i >= 0 {
		ref := s[last+i+1:]
		s = s[:last+i]
		if looksLikeDigest(ref) {
			if digest == "" {
				digest = ref
			}
		} else {
			tag = ref
		}
	}
	if first, rest, ok := strings.Cut(s, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		host, s = first, rest
	}
	return host, s, tag, digest
}

// errNotJSONObject marks a body that is not a JSON object at all: "null",
// an array, a number, an empty body or text.
var errNotJSONObject = errors.New("body is not a JSON object")

// requireJSONObject checks that the body starts like a JSON object.
// encoding/json would decode "null" into a zero struct without complaint.
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

// lenientTime decodes an event time the way senders write it: an RFC 3339
// string, or Unix seconds or milliseconds as a number or a string. Anything
// else leaves it zero rather than failing the body: a sender that retries
// forever must not be blocked over a timestamp the bridge only uses for a
// latency metric.
type lenientTime struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (t *lenientTime) UnmarshalJSON(b []byte) error {
	t.Time = parseLenientTime(b)
	return nil
}

func parseLenientTime(b []byte) time.Time {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		s := string(b[1 : len(b)-1])
		if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return ts.UTC()
		}
		return unixTime(s)
	}
	return unixTime(string(b))
}

// msThreshold tells seconds from milliseconds: 1e11 seconds is the year
// 5138, 1e11 milliseconds is 1973.
const msThreshold = 100_000_000_000

func unixTime(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != f || f <= 0 || f >= 1e15 {
			return time.Time{}
		}
		n = int64(f)
	}
	switch {
	case n <= 0, n >= 1e15:
		return time.Time{}
	case n >= msThreshold:
		return time.UnixMilli(n).UTC()
	default:
		return time.Unix(n, 0).UTC()
	}
}
