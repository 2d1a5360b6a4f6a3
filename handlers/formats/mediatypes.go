package formats

import (
	"fmt"
	"strings"
)

// This file decides whether a pushed manifest is a container image HSS can
// scan: by its media types (manifest, config, OCI 1.1 artifactType, layers)
// and by the tags that signing and SBOM tools push next to an image. Every
// format applies these rules and words their reasons the same way.

// Manifest media types that describe a container image (single-platform or
// multi-platform). An index is scanned as one push per tag: HSS addresses
// images by tag, not by platform.
// https://github.com/opencontainers/image-spec/blob/main/media-types.md
// https://distribution.github.io/distribution/spec/manifest-v2-2/
var imageManifestTypes = map[string]bool{
	"application/vnd.oci.image.manifest.v1+json": true,
	mediaTypeOCIIndex: true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	mediaTypeDockerManifestList:                                 true,
	"application/vnd.docker.distribution.manifest.v1+json":      true,
	"application/vnd.docker.distribution.manifest.v1+prettyjws": true,
}

// imageConfigTypes are config media types of runnable images.
var imageConfigTypes = map[string]bool{
	"application/vnd.oci.image.config.v1+json":       true,
	"application/vnd.docker.container.image.v1+json": true,
}

// Media types named outside the tables.
const (
	mediaTypeDockerManifestList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeOCIIndex            = "application/vnd.oci.image.index.v1+json"
	mediaTypeOCIArtifactManifest = "application/vnd.oci.artifact.manifest.v1+json"
	mediaTypePrefixOCILayer      = "application/vnd.oci.image.layer."
	mediaTypePrefixDockerLayer   = "application/vnd.docker.image.rootfs."
	mediaTypePrefixDockerV1Layer = "application/vnd.docker.container.image.rootfs."
)

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

// notAnImage words the reason for an artifact HSS cannot scan, given what
// it is ("helm chart"); every "not a container image" skip is worded here.
func notAnImage(kind string) string { return kind + ", not a container image" }

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

// describeArtifact is the skip reason for a non-image media type: its kind
// when known, else the media type itself.
func describeArtifact(mediaType string) string {
	if kind := artifactKind(mediaType); kind != "" {
		return notAnImage(kind)
	}
	return fmt.Sprintf("media type %s is not a container image", Clip(mediaType, 100))
}

// normalizeMediaType lower-cases a media type and drops its parameters
// ("…+json; charset=utf-8").
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

// isManifestMediaType takes a normalized media type.
func isManifestMediaType(mt string) bool { return imageManifestTypes[mt] }

// isIndexMediaType takes a normalized media type.
func isIndexMediaType(mt string) bool {
	return mt == mediaTypeDockerManifestList || mt == mediaTypeOCIIndex
}

// isImageLayerMediaType recognises the tar layers of OCI and Docker images
// (plain, gzip, zstd, non-distributable and foreign variants); it takes a
// normalized media type.
func isImageLayerMediaType(mt string) bool {
	return strings.HasPrefix(mt, mediaTypePrefixOCILayer) ||
		strings.HasPrefix(mt, mediaTypePrefixDockerLayer) ||
		strings.HasPrefix(mt, mediaTypePrefixDockerV1Layer)
}

// artifactTypeReason judges an OCI 1.1 artifactType: "" for none or for an
// image config type (what registries report for plain images: Harbor's
// artifact API, distribution's target.artifactType), else why the manifest
// is not an image.
func artifactTypeReason(artifactType string) string {
	at := normalizeMediaType(artifactType)
	if at == "" || imageConfigTypes[at] {
		return ""
	}
	return describeArtifact(at)
}

// nonImageReason returns why a manifest is not a container image HSS can
// scan, or "" when it is one (or when the sender gave no media types: most
// webhooks do not, and a tagged push is an image far more often than not).
// The rule, in order:
//   - an artifactType (OCI 1.1) other than an image config type marks an
//     artifact, whatever the manifest type;
//   - a config media type other than an image config marks an artifact
//     (Helm charts, WASM and SIF are image manifests with their own config);
//   - a manifest media type must be one of the image manifest types.
func nonImageReason(mediaType, configMediaType, artifactType string) string {
	if reason := artifactTypeReason(artifactType); reason != "" {
		return reason
	}
	if ct := normalizeMediaType(configMediaType); ct != "" && !imageConfigTypes[ct] {
		return describeArtifact(ct)
	}
	if mt := normalizeMediaType(mediaType); mt != "" && !isManifestMediaType(mt) {
		return describeArtifact(mt)
	}
	return ""
}

// NonImageReason is nonImageReason for a manifest read by a poller
// (package sources), which learns the config media type and artifactType
// only by fetching the manifest: a polled artifact is skipped in the same
// words as the same artifact in a webhook.
func NonImageReason(mediaType, configMediaType, artifactType string) string {
	return nonImageReason(mediaType, configMediaType, artifactType)
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
		return notAnImage("cosign signature tag")
	case "att":
		return notAnImage("cosign attestation tag")
	case "sbom":
		return notAnImage("cosign sbom tag")
	case "":
		return notAnImage("referrers index tag")
	}
	return ""
}
