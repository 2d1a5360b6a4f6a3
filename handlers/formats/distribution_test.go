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

// fxDigests reads the target digests of a fixture's events, so the table
// need not repeat 64 hex characters per row.
func fxDigests(t *testing.T, file string) []string {
	t.Helper()
	var env struct {
		Events []struct {
			Target struct {
				Digest string `json:"digest"`
			} `json:"target"`
		} `json:"events"`
	}
	if err := json.Unmarshal(fxReadFixture(t, file), &env); err != nil {
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
	ts := fxTime(t, "2025-05-14T09:21:07.123456789Z")
	d := func(file string, i int) string { return fxDigests(t, "distribution/"+file)[i] }
	tagged := func(id, repo, tag, digest, mediaType string) Push {
		return Push{Host: dRegistry, Repository: repo, Tag: tag, Digest: digest, MediaType: mediaType, PushedAt: ts, EventID: id}
	}
	inlinePush := Push{Host: dRegistry, Repository: "team/app", Tag: "1.2.3", Digest: dImage, MediaType: ociManifest, PushedAt: fxTime(t, "2025-05-14T09:21:07Z"), EventID: "e-1"}
	withRefs := func(refs string) string {
		return distEnvelope1("push", `{"mediaType":"`+ociManifest+`","digest":"`+dImage+`","repository":"team/app","tag":"1.2.3","references":`+refs+`}`)
	}
	fxRun(t, "distribution", []fxCase{
		// distribution's documentation.
		{
			name: "the documented envelope: an untagged manifest push and two layer pushes are all skipped",
			file: "distribution/docs-push-envelope-example.json",
			want: Result{Skipped: []Skip{
				{Ref: "library/test@" + dDocsManifest, Reason: "push by digest without a tag"},
				{Ref: "library/test@" + dDocsLayer, Reason: "blob push, not a manifest"},
				{Ref: "library/test@" + dDocsLayer, Reason: "blob push, not a manifest"},
			}},
		},
		{
			name: "the documented manifest pull is skipped",
			file: "distribution/docs-pull-example.json",
			want: Result{Skipped: []Skip{{Ref: "hello-world:latest@" + dDocsManifest, Reason: "pull event"}}},
		},

		// Modelled on v3.1.2.
		{
			name: "a tagged OCI image manifest push becomes a push with host, digest, media type, time and id",
			file: "distribution/oci-image-push-tagged.json",
			want: Result{Pushes: []Push{tagged("4f1c6d0e-2b7a-4e51-9c3d-0a1b2c3d4e01", "team/app", "1.2.3", dImage, ociManifest)}},
		},
		{
			name: "a tagged Docker schema2 manifest push becomes a push",
			file: "distribution/docker-schema2-push-tagged.json",
			want: Result{Pushes: []Push{{Host: dRegistry, Repository: "library/busybox", Tag: "1.36", Digest: d("docker-schema2-push-tagged.json", 0), MediaType: dockerV2,
				PushedAt: fxTime(t, "2025-05-14T09:22:41.5Z"), EventID: "4f1c6d0e-2b7a-4e51-9c3d-0a1b2c3d4e02"}}},
		},
		{
			name: "a multi-arch index pushed with a tag is one push",
			file: "distribution/oci-index-push-tagged.json",
			want: Result{Pushes: []Push{tagged("4f1c6d0e-2b7a-4e51-9c3d-0a1b2c3d4e03", "team/app", "2.0.0", d("oci-index-push-tagged.json", 0), ociIndex)}},
		},
		{
			name: "a per-platform manifest of an index, pushed by digest, is skipped",
			file: "distribution/oci-index-child-manifest-by-digest.json",
			want: Result{Skipped: []Skip{{Ref: "team/app@" + d("oci-index-child-manifest-by-digest.json", 0), Reason: "push by digest without a tag"}}},
		},
		{
			name: "a blob push is skipped",
			file: "distribution/blob-push-octet-stream.json",
			want: Result{Skipped: []Skip{{Ref: "team/app@" + d("blob-push-octet-stream.json", 0), Reason: "blob push, not a manifest"}}},
		},
		{
			name: "a HEAD of a manifest is a pull and is skipped",
			file: "distribution/manifest-pull-head.json",
			want: Result{Skipped: []Skip{{Ref: "team/app:1.2.3@" + dImage, Reason: "pull event"}}},
		},
		{
			name: "a blob mount is skipped",
			file: "distribution/blob-mount.json",
			want: Result{Skipped: []Skip{{Ref: "team/other@" + d("blob-mount.json", 0), Reason: "blob mount event"}}},
		},
		{
			name: "a manifest delete (repository and digest only) is skipped",
			file: "distribution/manifest-delete.json",
			want: Result{Skipped: []Skip{{Ref: "team/app@" + dImage, Reason: "delete event"}}},
		},
		{
			name: "a tag delete (repository and tag only) is skipped",
			file: "distribution/tag-delete.json",
			want: Result{Skipped: []Skip{{Ref: "team/app:1.2.3", Reason: "delete event"}}},
		},
		{
			name: "an oras SBOM with references (empty config, spdx layer) is skipped",
			file: "distribution/oras-sbom-with-references.json",
			want: Result{Skipped: []Skip{{Ref: "team/app-sbom:1.2.3@" + d("oras-sbom-with-references.json", 0), Reason: "spdx sbom, not a container image"}}},
		},
		{
			name: "an image with references (image config, tar layers) is a push",
			file: "distribution/oci-image-with-references.json",
			want: Result{Pushes: []Push{tagged("4f1c6d0e-2b7a-4e51-9c3d-0a1b2c3d4e11", "team/app", "1.2.3", dImage, ociManifest)}},
		},
		{
			name: "a helm chart with references is skipped",
			file: "distribution/helm-chart-with-references.json",
			want: Result{Skipped: []Skip{{Ref: "charts/podinfo:6.5.4@" + d("helm-chart-with-references.json", 0), Reason: "helm chart, not a container image"}}},
		},
		{
			name: "a cosign signature under its sha256-<hex>.sig tag is skipped without references",
			file: "distribution/cosign-signature-tag.json",
			want: Result{Skipped: []Skip{{Ref: "team/app:sha256-" + dImage[len("sha256:"):] + ".sig@" + d("cosign-signature-tag.json", 0), Reason: "cosign signature tag, not a container image"}}},
		},
		{
			name: "an envelope of several events gives the tagged index as the one push and skips the rest",
			file: "distribution/multi-arch-push-envelope.json",
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
			want: Result{Pushes: []Push{{Host: dRegistry, Repository: "alpine", Tag: "3.20", Digest: dImage, MediaType: dockerV2, PushedAt: fxTime(t, "2025-05-14T09:21:07Z"), EventID: "e-1"}}},
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
		{name: "an object without events is not an envelope", body: `{"type":"PUSH_ARTIFACT"}`, wantErr: fxErrIs(errNoEvents)},
		{name: "null events is not an envelope", body: `{"events":null}`, wantErr: fxErrIs(errNoEvents)},
		{name: "events as an object is the wrong shape", body: `{"events":{}}`, wantErr: fxErrType},
		{name: "an event that is a number is the wrong shape", body: `{"events":[1]}`, wantErr: fxErrType},
		{name: "a numeric repository is the wrong shape", body: `{"events":[{"action":"push","target":{"repository":5}}]}`, wantErr: fxErrType},
		{name: "null is not an object", body: `null`, wantErr: fxErrIs(errNotJSONObject)},
		{name: "a bare array of events is not an envelope", body: `[{"action":"push"}]`, wantErr: fxErrIs(errNotJSONObject)},
		{name: "text is not JSON", body: `push team/app:1.2.3`, wantErr: fxErrIs(errNotJSONObject)},
		{name: "truncated JSON is a syntax error", body: `{"events":[{"action":"push"`, wantErr: fxErrSyntax},
	})
}

func TestSplitImageRef(t *testing.T) {
	const dg = "sha256:2fb9a3ed677bbd9e5eaea133260c5d4d6f61d03c7d9cb5e25d3d7762303e9bc5"
	tests := []struct {
		name, in                    string
		host, repo, tag, digestPart string
	}{
		{"host, nested repository and tag", "hub.harbor.com/team/sub/app:1.0", "hub.harbor.com", "team/sub/app", "1.0", ""},
		{"host with a port is not a tag", "harbor.example.com:8443/team/app:1.0", "harbor.example.com:8443", "team/app", "1.0", ""},
		{"digest after @", "localhost/harbor/alpine@" + dg, "localhost", "harbor/alpine", "", dg},
		{"Harbor 2.0's repo:sha256:<hex> is a digest, not a tag", "10.92.103.227/aaa/cnab_copy:" + dg, "10.92.103.227", "aaa/cnab_copy", "", dg},
		{"a scheme is dropped", "https://ee.example.com/ns/app:v1", "ee.example.com", "ns/app", "v1", ""},
		{"no host when the first component does not look like one", "team/app:v1", "", "team/app", "v1", ""},
		{"tag and digest together", "r.example.com/team/app:v1@" + dg, "r.example.com", "team/app", "v1", dg},
		{"empty", "", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, repo, tag, digest := splitImageRef(tt.in)
			if host != tt.host || repo != tt.repo || tag != tt.tag || digest != tt.digestPart {
				t.Fatalf("splitImageRef(%q) = %q, %q, %q, %q; want %q, %q, %q, %q",
					tt.in, host, repo, tag, digest, tt.host, tt.repo, tt.tag, tt.digestPart)
			}
		})
	}
}

func TestValidRepository(t *testing.T) {
	tests := []struct {
		repo string
		ok   bool
	}{
		{"team/app", true},
		{"team/sub/app", true},
		{"a", true},
		{"my-team/app_1.x__y", true},
		{"a--b/c", true},
		{"Team/app", false},
		{"team//app", false},
		{"/team/app", false},
		{"team/app/", false},
		{"team/-app", false},
		{"team/app.", false},
		{"team/a___b", false},
		{"team/a..b", false},
		{"team/app:1", false},
		{"../etc", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := validRepository(tt.repo); got != tt.ok {
			t.Errorf("validRepository(%q) = %v, want %v", tt.repo, got, tt.ok)
		}
	}
}

func TestLenientTime(t *testing.T) {
	tests := []struct {
		name string
		json string
		want time.Time
	}{
		{"Unix seconds", `1586922308`, time.Unix(1586922308, 0)},
		{"Unix milliseconds", `1748503200123`, time.UnixMilli(1748503200123)},
		{"seconds as a string", `"1586922308"`, time.Unix(1586922308, 0)},
		{"seconds in exponent form", `1.586922308e9`, time.Unix(1586922308, 0)},
		{"RFC 3339 with an offset", `"2016-03-09T14:44:26.402973972-08:00"`, time.Date(2016, 3, 9, 22, 44, 26, 402973972, time.UTC)},
		{"zero is unset", `0`, time.Time{}},
		{"negative is unset", `-5`, time.Time{}},
		{"text is unset", `"yesterday"`, time.Time{}},
		{"an object is unset", `{"t":1}`, time.Time{}},
		{"null is unset", `null`, time.Time{}},
		{"absurdly large is unset", `1e300`, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v struct {
				T lenientTime `json:"t"`
			}
			if err := json.Unmarshal([]byte(`{"t":`+tt.json+`}`), &v); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !v.T.Equal(tt.want) {
				t.Fatalf("got %v, want %v", v.T.Time, tt.want)
			}
		})
	}
}

func FuzzDistribution(f *testing.F) {
	fxFuzz(f, "distribution", []string{"distribution"},
		`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"a/b","tag":"t","references":[{"mediaType":"application/vnd.oci.empty.v1+json"},{}]}}]}`,
		`{"events":[{"action":"push","timestamp":"2006-01-02T15:04:05Z","target":{"mediaType":"application/vnd.oci.image.index.v1+json","repository":"a","tag":"sha256-0000000000000000000000000000000000000000000000000000000000000000"}}]}`,
	)
}

// BenchmarkDecodeDistribution decodes what v3.1.2 sends for a tagged push:
// an envelope of one manifest event.
func BenchmarkDecodeDistribution(b *testing.B) {
	fxBench(b, "distribution", "distribution/oci-image-push-tagged.json")
}
