package formats

import (
	"encoding/json"
	"testing"
	"time"
)

// Digests of the distribution fixtures (sha256 of a label, see the README).
const (
	dDocsManifest = "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf"
	dDocsLayer    = "sha256:c3b3692957d439ac1928219a83fac91e7bf96c153725526874673ae1f2023f8d5"
	dImage        = "sha256:c8b76bb7d941476d7c595c0c25480a9103b74426e827a57931b85781b1aff585"
)

const (
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
	ociIndex    = "application/vnd.oci.image.index.v1+json"
	dockerV2    = "application/vnd.docker.distribution.manifest.v2+json"
	dRegistry   = "registry.example.com:5000"
)

// fixtureDigests reads the target digests of a fixture's events, so the table
// need not repeat 64 hex characters per row.
func fixtureDigests(t *testing.T, file string) []string {
	t.Helper()
	var env struct {
		Events []struct {
			Target struct {
				Digest string `json:"digest"`
			} `json:"target"`
		} `json:"events"`
	}
	if err := json.Unmarshal(readFixture(t, "distribution", file), &env); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	ds := make([]string, len(env.Events))
	for i, e := range env.Events {
		ds[i] = e.Target.Digest
	}
	return ds
}

// distEnvelope1 wraps one inline event target in an envelope, as v3.1.2 sends.
func distEnvelope1(action, target string) string {
	return `{"events":[{"id":"e-1","timestamp":"2025-05-14T09:21:07Z","action":"` + action + `","target":` + target +
		`,"request":{"id":"r-1","addr":"127.0.0.1:5","host":"` + dRegistry + `","method":"PUT","useragent":"t"}}]}`
}

func TestDistribution(t *testing.T) {
	ts := mustTime(t, "2025-05-14T09:21:07.123456789Z")
	d := func(file string, i int) string { return fixtureDigests(t, file)[i] }
	tagged := func(id, repo, tag, digest, mediaType string) Push {
		return Push{Host: dRegistry, Repository: repo, Tag: tag, Digest: digest, MediaType: mediaType, PushedAt: ts, EventID: id}
	}
	inlinePush := Push{Host: dRegistry, Repository: "team/app", Tag: "1.2.3", Digest: dImage, MediaType: ociManifest, PushedAt: mustTime(t, "2025-05-14T09:21:07Z"), EventID: "e-1"}
	withRefs := func(refs string) string {
		return distEnvelope1("push", `{"mediaType":"`+ociManifest+`","digest":"`+dImage+`","repository":"team/app","tag":"1.2.3","references":`+refs+`}`)
	}
	runDecoder(t, "distribution", []decodeCase{
		// distribution's documentation.
		{
			name: "the documented envelope: an untagged manifest push and two layer pushes are all skipped",
			file: "docs-push-envelope-example.json",
			want: Result{Skipped: []Skip{
				{Ref: "library/test@" + dDocsManifest, Reason: "push by digest without a tag"},
				{Ref: "library/test@" + dDocsLayer, Reason: "blob push, not a manifest"},
				{Ref: "library/test@" + dDocsLayer, Reason: "blob push, not a manifest"},
			}},
		},
		{
			name: "the documented manifest pull is skipped",
			file: "docs-pull-example.json",
			want: Result{Skipped: []Skip{{Ref: "hello-world:latest@" + dDocsManifest, Reason: "pull event, not a push"}}},
		},

		// Modelled on v3.1.2.
		{
			name: "a tagged OCI image manifest push becomes a push with host, digest, media type, time and id",
			file: "oci-image-push-tagged.json",
			want: Result{Pushes: []Push{tagged("4f1c6d0e-2b7a-4e51-9c3d-0a1b2c3d4e01", "team/app", "1.2.3", dImage, ociManifest)}},
		},
		{
			name: "a tagged Docker schema2 manifest push becomes a push",
			file: "docker-schema2-push-tagged.json",
			want: Result{Pushes: []Push{{Host: dRegistry, Repository: "library/busybox", Tag: "1.36", Digest: d("docker-schema2-push-tagged.json", 0), MediaType: dockerV2,
				PushedAt: mustTime(t, "2025-05-14T09:22:41.5Z"), EventID: "4f1c6d0e-2b7a-4e51-9c3d-0a1b2c3d4e02"}}},
		},
		{
			name: "a multi-arch index pushed with a tag is one push",
			file: "oci-index-push-tagged.json",
			want: Result{Pushes: []Push{tagged("4f1c6d0e-2b7a-4e51-9c3d-0a1b2c3d4e03", "team/app", "2.0.0", d("oci-index-push-tagged.json", 0), ociIndex)}},
		},
		{
			name: "a per-platform manifest of an index, pushed by digest, is skipped",
			file: "oci-index-child-manifest-by-digest.json",
			want: Result{Skipped: []Skip{{Ref: "team/app@" + d("oci-index-child-manifest-by-digest.json", 0), Reason: "push by digest without a tag"}}},
		},
		{
			name: "a blob push is skipped",
			file: "blob-push-octet-stream.json",
			want: Result{Skipped: []Skip{{Ref: "team/app@" + d("blob-push-octet-stream.json", 0), Reason: "blob push, not a manifest"}}},
		},
		{
			name: "a HEAD of a manifest is a pull and is skipped",
			file: "manifest-pull-head.json",
			want: Result{Skipped: []Skip{{Ref: "team/app:1.2.3@" + dImage, Reason: "pull event, not a push"}}},
		},
		{
			name: "a blob mount is skipped",
			file: "blob-mount.json",
			want: Result{Skipped: []Skip{{Ref: "team/other@" + d("blob-mount.json", 0), Reason: "blob mount event"}}},
		},
		{
			name: "a manifest delete (repository and digest only) is skipped",
			file: "manifest-delete.json",
			want: Result{Skipped: []Skip{{Ref: "team/app@" + dImage, Reason: "delete event, not a push"}}},
		},
		{
			name: "a tag delete (repository and tag only) is skipped",
			file: "tag-delete.json",
			want: Result{Skipped: []Skip{{Ref: "team/app:1.2.3", Reason: "delete event, not a push"}}},
		},
		{
			name: "an oras SBOM with references (empty config, spdx layer) is skipped",
			file: "oras-sbom-with-references.json",
			want: Result{Skipped: []Skip{{Ref: "team/app-sbom:1.2.3@" + d("oras-sbom-with-references.json", 0), Reason: "spdx sbom, not a container image"}}},
		},
		{
			name: "an image with references (image config, tar layers) is a push",
			file: "oci-image-with-references.json",
			want: Result{Pushes: []Push{tagged("4f1c6d0e-2b7a-4e51-9c3d-0a1b2c3d4e11", "team/app", "1.2.3", dImage, ociManifest)}},
		},
		{
			name: "a helm chart with references is skipped",
			file: "helm-chart-with-references.json",
			want: Result{Skipped: []Skip{{Ref: "charts/podinfo:6.5.4@" + d("helm-chart-with-references.json", 0), Reason: "helm chart, not a container image"}}},
		},
		{
			name: "a cosign signature under its sha256-<hex>.sig tag is skipped without references",
			file: "cosign-signature-tag.json",
			want: Result{Skipped: []Skip{{Ref: "team/app:sha256-" + dImage[len("sha256:"):] + ".sig@" + d("cosign-signature-tag.json", 0), Reason: "cosign signature tag, not a container image"}}},
		},
		{
			name: "an envelope of several events gives the tagged index as the one push and skips the rest",
			file: "multi-arch-push-envelope.json",
			want: Result{
				Pushes: []Push{tagged("4f1c6d0e-2b7a-4e51-9c3d-0a1b2c3d4e23", "team/app", "2.0.0", d("multi-arch-push-envelope.json", 3), ociIndex)},
				Skipped: []Skip{
					{Ref: "team/app@" + d("multi-arch-push-envelope.json", 0), Reason: "blob push, not a manifest"},
					{Ref: "team/app@" + d("multi-arch-push-envelope.json", 1), Reason: "push by digest without a tag"},
					{Ref: "team/app@" + d("multi-arch-push-envelope.json", 2), Reason: "push by digest without a tag"},
				},
			},
		},

		// Inline variations.
		{
			name: "a cosign signature seen through references (image config, simple-signing layer) is skipped",
			body: withRefs(`[{"mediaType":"application/vnd.oci.image.config.v1+json"},{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json"}]`),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.2.3@" + dImage, Reason: "cosign signature, not a container image"}}},
		},
		{
			name: "an artifact with an unknown config and unknown layers is named by its config",
			body: withRefs(`[{"mediaType":"application/vnd.example.config.v1+json"},{"mediaType":"application/vnd.example.data"}]`),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.2.3@" + dImage, Reason: "media type application/vnd.example.config.v1+json is not a container image"}}},
		},
		{
			name: "an image config with a layer that is not a tar is not an image",
			body: withRefs(`[{"mediaType":"application/vnd.docker.container.image.v1+json"},{"mediaType":"application/vnd.example.data"}]`),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.2.3@" + dImage, Reason: "media type application/vnd.example.data is not a container image"}}},
		},
		{
			name: "a Docker image config with foreign and zstd layers is an image",
			body: withRefs(`[{"mediaType":"application/vnd.docker.container.image.v1+json"},{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"},{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd"}]`),
			want: Result{Pushes: []Push{inlinePush}},
		},
		{
			name: "an artifactType on the target marks an artifact",
			body: distEnvelope1("push", `{"mediaType":"`+ociManifest+`","artifactType":"application/vnd.example.sbom.v1","digest":"`+dImage+`","repository":"team/app","tag":"1.2.3"}`),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.2.3@" + dImage, Reason: "media type application/vnd.example.sbom.v1 is not a container image"}}},
		},
		{
			name: "an artifactType that is an image config type is an image",
			body: distEnvelope1("push", `{"mediaType":"`+ociManifest+`","artifactType":"application/vnd.oci.image.config.v1+json","digest":"`+dImage+`","repository":"team/app","tag":"1.2.3"}`),
			want: Result{Pushes: []Push{inlinePush}},
		},
		{
			name: "the withdrawn OCI artifact manifest is not an image",
			body: distEnvelope1("push", `{"mediaType":"application/vnd.oci.artifact.manifest.v1+json","digest":"`+dImage+`","repository":"team/app","tag":"1.2.3"}`),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.2.3@" + dImage, Reason: "oci artifact, not a container image"}}},
		},
		{
			name: "a push without a media type is skipped",
			body: distEnvelope1("push", `{"digest":"`+dImage+`","repository":"team/app","tag":"1.2.3"}`),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.2.3@" + dImage, Reason: "push without a media type"}}},
		},
		{
			name: "a manifest push without a repository is skipped",
			body: distEnvelope1("push", `{"mediaType":"`+ociManifest+`","digest":"`+dImage+`","tag":"1.2.3","url":"http://r/v2/x"}`),
			want: Result{Skipped: []Skip{{Ref: "http://r/v2/x", Reason: "push without a repository name"}}},
		},
		{
			name: "a tag that is a digest is a push by digest",
			body: distEnvelope1("push", `{"mediaType":"`+ociManifest+`","digest":"`+dImage+`","repository":"team/app","tag":"`+dImage+`"}`),
			want: Result{Skipped: []Skip{{Ref: "team/app@" + dImage, Reason: "push by digest without a tag"}}},
		},
		{
			name: "action and media type compare without case; parameters are ignored",
			body: distEnvelope1("PUSH", `{"mediaType":"Application/VND.oci.image.manifest.v1+json; charset=utf-8","digest":"`+dImage+`","repository":"team/app","tag":"1.2.3"}`),
			want: Result{Pushes: []Push{func() Push {
				p := inlinePush
				p.MediaType = "Application/VND.oci.image.manifest.v1+json; charset=utf-8"
				return p
			}()}},
		},
		{
			name: "without request.host the host comes from target.url",
			body: `{"events":[{"id":"e-1","action":"push","target":{"mediaType":"` + ociManifest + `","digest":"` + dImage + `","repository":"team/app","tag":"1.2.3","url":"https://mirror.example.com/v2/team/app/manifests/` + dImage + `"}}]}`,
			want: Result{Pushes: []Push{{Host: "mirror.example.com", Repository: "team/app", Tag: "1.2.3", Digest: dImage, MediaType: ociManifest, EventID: "e-1"}}},
		},
		{
			name: "an unreadable timestamp leaves the time zero instead of refusing the event",
			body: `{"events":[{"id":"e-1","timestamp":"yesterday","action":"push","target":{"mediaType":"` + ociManifest + `","digest":"` + dImage + `","repository":"team/app","tag":"1.2.3"},"request":{"host":"` + dRegistry + `"}}]}`,
			want: Result{Pushes: []Push{func() Push { p := inlinePush; p.PushedAt = time.Time{}; return p }()}},
		},
		{
			name: "a single-segment repository is a push (the receiver decides its namespace)",
			body: distEnvelope1("push", `{"mediaType":"`+dockerV2+`","digest":"`+dImage+`","repository":"alpine","tag":"3.20"}`),
			want: Result{Pushes: []Push{{Host: dRegistry, Repository: "alpine", Tag: "3.20", Digest: dImage, MediaType: dockerV2, PushedAt: mustTime(t, "2025-05-14T09:21:07Z"), EventID: "e-1"}}},
		},
		{
			name: "an unknown action is skipped and named",
			body: distEnvelope1("archive", `{"repository":"team/app","tag":"1.2.3"}`),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.2.3", Reason: `unsupported action "archive"`}}},
		},
		{
			name: "an event without an action is skipped",
			body: `{"events":[{"id":"e-1","target":{"repository":"team/app"}}]}`,
			want: Result{Skipped: []Skip{{Ref: "team/app", Reason: "event without an action"}}},
		},
		{
			name: "an empty events array is a well-formed envelope with nothing in it",
			body: `{"events":[]}`,
			want: Result{},
		},

		// Not an envelope.
		{name: "an object without events is not an envelope", body: `{"type":"PUSH_ARTIFACT"}`, wantErr: errIs(errNoEvents)},
		{name: "null events is not an envelope", body: `{"events":null}`, wantErr: errIs(errNoEvents)},
		{name: "events as an object is the wrong shape", body: `{"events":{}}`, wantErr: errType},
		{name: "an event that is a number is the wrong shape", body: `{"events":[1]}`, wantErr: errType},
		{name: "a numeric repository is the wrong shape", body: `{"events":[{"action":"push","target":{"repository":5}}]}`, wantErr: errType},
		{name: "null is not an object", body: `null`, wantErr: errIs(errNotJSONObject)},
		{name: "a bare array of events is not an envelope", body: `[{"action":"push"}]`, wantErr: errIs(errNotJSONObject)},
		{name: "text is not JSON", body: `push team/app:1.2.3`, wantErr: errIs(errNotJSONObject)},
		{name: "truncated JSON is a syntax error", body: `{"events":[{"action":"push"`, wantErr: errSyntax},
	})
}

func FuzzDistribution(f *testing.F) {
	fuzzDecoder(f, "distribution", fuzzSeeds{bodies: []string{
		`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"a/b","tag":"t","references":[{"mediaType":"application/vnd.oci.empty.v1+json"},{}]}}]}`,
		`{"events":[{"action":"push","timestamp":"2006-01-02T15:04:05Z","target":{"mediaType":"application/vnd.oci.image.index.v1+json","repository":"a","tag":"sha256-0000000000000000000000000000000000000000000000000000000000000000"}}]}`,
	}})
}

// BenchmarkDecodeDistribution decodes what v3.1.2 sends for a tagged push:
// an envelope of one manifest event.
func BenchmarkDecodeDistribution(b *testing.B) {
	benchDecoder(b, "distribution", "oci-image-push-tagged.json", nil)
}
