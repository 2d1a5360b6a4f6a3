package formats

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// This file holds what the registry decoders share: deciding whether a
// pushed manifest is a container image HSS can scan, recognising the tags
// that signing and SBOM tools push next to an image, parsing image
// references, and collecting pushes and skips in body order. It exists so
// that every format applies one rule, and a fix to the rule reaches all of
// them.

// Manifest media types that describe a container image (single-platform or
// multi-platform). An index is scanned as one push per tag: HSS addresses
// images by tag, not by platform.
// https://github.com/opencontainers/image-spec/blob/main/media-types.md
// https://distribution.github.io/distribution/spec/manifest-v2-2/
var imageManifestTypes = map[string]bool{
	"application/vnd.oci.image.manifest.v1+json":                true,
	"application/vnd.oci.image.index.v1+json":                   true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
	"application/vnd.docker.distribution.manifest.v1+json":      true,
	"application/vnd.docker.distribution.manifest.v1+prettyjws": true,
}

// imageConfigTypes are config media types of runnable images.
var imageConfigTypes = map[string]bool{
	"application/vnd.oci.image.config.v1+json":       true,
	"application/vnd.docker.container.image.v1+json": true,
}

// artifactKinds names well-known non-image media types (manifest, config
// or artifactType) so the skip reason tells an administrator what the push
// was. Matching is by prefix after lower-casing, so versioned variants such
// as application/vnd.dev.sigstore.bundle.v0.3+json are covered.
var artifactKinds = []struct{ prefix, kind string }{
	{"application/vnd.cncf.helm.", "helm chart"},
	{"application/vnd.acr.helm.", "helm chart"},
	{"application/tar+gzip", "helm chart"}, // ACR chart_push target media type
	{"application/vnd.dev.cosign.", "cosign signature"},
	{"application/vnd.dev.sigstore.", "sigstore bundle"},
	{"application/vnd.cncf.notary.", "notary signature"},
	{"application/vnd.in-toto", "in-toto attestation"},
	{"application/spdx", "spdx sbom"},
	{"text/spdx", "spdx sbom"},
	{"application/vnd.cyclonedx", "cyclonedx sbom"},
	{"application/vnd.syft", "syft sbom"},
	{"application/vnd.wasm.", "wasm module"},
	{"application/vnd.module.wasm.", "wasm module"},
	{"application/vnd.sylabs.sif.", "singularity image"},
	{"application/vnd.cnab.", "cnab bundle"},
	{"application/vnd.oci.artifact.manifest.", "oci artifact"},
	{"application/vnd.oci.empty.", "oci artifact"},
}

// artifactKind names a non-image media type, or returns "" for an
// unrecognised one.
func artifactKind(mediaType string) string {
	mt := strings.ToLower(strings.TrimSpace(mediaType))
	for _, k := range artifactKinds {
		if strings.HasPrefix(mt, k.prefix) {
			return k.kind
		}
	}
	return ""
}

// nonImageReason returns why a manifest is not a container image HSS can
// scan, or "" when it is one (or when the sender gave no media types: most
// webhooks do not, and a tagged push is an image far more often than not).
// The rule, in order:
//   - an artifactType (OCI 1.1) marks an artifact, whatever the manifest type;
//   - a config media type other than an image config marks an artifact
//     (Helm charts, WASM and SIF are image manifests with their own config);
//   - a manifest media type must be one of the image manifest types.
func nonImageReason(mediaType, configMediaType, artifactType string) string {
	if at := strings.TrimSpace(artifactType); at != "" {
		return describeArtifact(at)
	}
	if ct := strings.ToLower(strings.TrimSpace(configMediaType)); ct != "" && !imageConfigTypes[ct] {
		return describeArtifact(ct)
	}
	mt := strings.ToLower(strings.TrimSpace(mediaType))
	if i := strings.IndexByte(mt, ';'); i >= 0 { // "…+json; charset=utf-8"
		mt = strings.TrimSpace(mt[:i])
	}
	if mt == "" || imageManifestTypes[mt] {
		return ""
	}
	return describeArtifact(mt)
}

func describeArtifact(mediaType string) string {
	if kind := artifactKind(mediaType); kind != "" {
		return kind + ", not a container image"
	}
	return fmt.Sprintf("media type %s is not a container image", clip(mediaType, 100))
}

// tagSkipReason recognises tags that tools push beside an image rather than
// images: cosign's sha256-<hex>.sig / .att / .sbom and the OCI referrers
// fallback tag sha256-<hex>. The digest prefix is required so an ordinary
// tag such as "release.sig" is not mistaken for one.
// https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema
func tagSkipReason(tag string) string {
	alg, rest, ok := strings.Cut(tag, "-")
	if !ok || (alg != "sha256" && alg != "sha512") {
		return ""
	}
	hexPart, suffix, _ := strings.Cut(rest, ".")
	if len(hexPart) < 32 || !isLowerHex(hexPart) {
		return ""
	}
	switch suffix {
	case "sig":
		return "cosign signature tag, not a container image"
	case "att":
		return "cosign attestation tag, not a container image"
	case "sbom":
		return "cosign sbom tag, not a container image"
	case "":
		return "referrers index tag, not a container image"
	}
	return ""
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// looksLikeDigest reports whether s looks like a content digest ("sha256:…").
// Some senders put the digest in their tag field for a push by digest
// (Harbor does), which is not a tag.
func looksLikeDigest(s string) bool {
	alg, hexPart, ok := strings.Cut(s, ":")
	return ok && (alg == "sha256" || alg == "sha512" || alg == "sha384") && len(hexPart) >= 32 && isLowerHex(hexPart)
}

// parsedRef is a parsed reference host/path[:tag][@digest].
type parsedRef struct {
	Host, Repository, Tag, Digest string
}

// parseRef splits a reference such as
// us-docker.pkg.dev/proj/repo/img:1.0 or ghcr.io/o/i@sha256:…. The first
// path component is a host when it contains a dot or a colon or is
// "localhost", as in the Docker reference grammar
// (https://github.com/distribution/reference/blob/main/reference.go).
// It reports false for a reference without a repository path.
func parseRef(s string) (parsedRef, bool) {
	var r parsedRef
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	if name, digest, ok := strings.Cut(s, "@"); ok {
		s, r.Digest = name, digest
	}
	// A tag is after the last colon that follows the last slash (a colon
	// before it belongs to host:port).
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		s, r.Tag = s[:i], s[i+1:]
	}
	if first, rest, ok := strings.Cut(s, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		r.Host, s = first, rest
	}
	r.Repository = strings.Trim(s, "/")
	return r, r.Repository != ""
}

// refString formats repo:tag@digest for skip entries, leaving out what is
// unknown.
func refString(repo, tag, digest string) string {
	s := repo
	if tag != "" {
		s += ":" + tag
	}
	if digest != "" {
		s += "@" + digest
	}
	return s
}

// clip bounds a sender-controlled string that ends up in an answer.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseTimestamp reads the RFC 3339 variants registries send. It returns
// the zero time for anything else: a push time is informative (latency
// metrics), never a reason to refuse an event.
func parseTimestamp(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() <= 1 { // "0001-01-01T00:00:00Z" means unset (GitHub)
				return time.Time{}
			}
			return t.UTC()
		}
	}
	return time.Time{}
}

// unixSeconds is a JSON time given as Unix seconds, either a number (possibly
// in exponent form, as in old Docker Hub payloads: 1.417566161e+09) or a
// numeric string. Anything else decodes as the zero time rather than
// failing the event.
type unixSeconds struct{ time.Time }

func (u *unixSeconds) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > 1e11 {
		u.Time = time.Time{}
		return nil
	}
	sec, frac := math.Modf(f)
	u.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

// decodeObject unmarshals a JSON object into v and says which format
// failed, so the caller's 400 names it. A body that is valid JSON but not
// an object (an array, a string) is refused too.
func decodeObject(format string, body []byte, v any) error {
	trimmed := strings.TrimSpace(string(body))
	if !strings.HasPrefix(trimmed, "{") {
		return fmt.Errorf("%s: body is not a JSON object", format)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: decode body: %w", format, err)
	}
	return nil
}

// resultBuilder collects pushes and skips in body order. It applies the
// rules every format shares, so decoders only map their fields:
// a push needs a repository and a tag; cosign and referrers tags and
// non-image media types are skipped; the same host/repository:tag reported
// twice in one body is one push.
type resultBuilder struct {
	res  Result
	seen map[string]bool
}

func (b *resultBuilder) skip(ref, reason string) {
	b.res.Skipped = append(b.res.Skipped, Skip{Ref: clip(ref, 300), Reason: reason})
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
	ref := refString(p.Repository, p.Tag, p.Digest)
	switch {
	case p.Repository == "":
		b.skip(ref, "event names no repository")
		return
	case p.Tag == "" || looksLikeDigest(p.Tag):
		b.skip(refString(p.Repository, "", p.Digest), "push by digest without a tag")
		return
	}
	if reason := tagSkipReason(p.Tag); reason != "" {
		b.skip(ref, reason)
		return
	}
	if reason := nonImageReason(p.MediaType, c.ConfigMediaType, c.ArtifactType); reason != "" {
		b.skip(ref, reason)
		return
	}
	key := p.Host + "\x00" + p.Repository + "\x00" + p.Tag
	if b.seen[key] {
		b.skip(ref, "same tag reported again in this body")
		return
	}
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	b.seen[key] = true
	b.res.Pushes = append(b.res.Pushes, p)
}

func (b *resultBuilder) result() Result { return b.res }
