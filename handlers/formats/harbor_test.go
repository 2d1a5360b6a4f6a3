package formats

import (
	"path/filepath"
	"strings"
	"testing"
)

// Digests of the Harbor fixtures, named for readability.
const (
	hDebian  = "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8"
	hAlpine  = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4"
	hAlpine8 = "sha256:2bb501e6173d9d006e56de5bce2720eb06396803300fe1687b58a7ff32bf4c14"
	hStopped = "sha256:e802987f152d7826cf929ad4999fb3bb956ce7a30966aeb46c749f9120eaf22c"
	hFailed  = "sha256:dabea2944dcc2b86482b4f0b0fb62da80e0673e900c46c0e03b45919881a5d84"
	hQuotaX  = "sha256:402d21757a03a114d273bbe372fa4b9eca567e8b6c332fa7ebf982b902207242"
	hQuotaW  = "sha256:514ec80ffbe1a2ab1d9a3d5e6082296296a1d8b6870246edf897228e5df2367d"
	hBusybox = "sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c"
	hCNAB    = "sha256:2fb9a3ed677bbd9e5eaea133260c5d4d6f61d03c7d9cb5e25d3d7762303e9bc5"
	hKeel    = "sha256:b4758aaed11c155a476b9857e1178f157759c99cb04c907a04993f5481eff848"
)

// harborPush builds an inline Harbor push body with one resource.
func harborPush(resource, repository string) string {
	return `{"type":"PUSH_ARTIFACT","occur_at":1700000000,"operator":"admin","event_data":{"resources":[` +
		resource + `],"repository":` + repository + `}}`
}

const hRepo = `{"name":"app","namespace":"team","repo_full_name":"team/app","repo_type":"private"}`

func TestHarbor(t *testing.T) {
	teamApp := func(tag string) Push {
		return Push{Host: "harbor.example.com", Repository: "team/app", Tag: tag, Digest: hAlpine, PushedAt: unixUTC(1700000000)}
	}
	runDecoder(t, "harbor", []decodeCase{
		// Real bodies.
		{
			name: "the documented push with a tag becomes one push with the host of resource_url",
			file: "push-artifact-docs-2.0.json",
			want: Result{Pushes: []Push{{Host: "hub.harbor.com", Repository: "test-webhook/debian", Tag: "latest", Digest: hDebian, PushedAt: unixUTC(1586922308)}}},
		},
		{
			name: "a push by digest, with the digest in tag as Harbor writes it, is skipped",
			file: "push-artifact-by-digest-docs.json",
			want: Result{Skipped: []Skip{{Ref: "harbor/alpine@" + hAlpine, Reason: "push by digest without a tag"}}},
		},
		{
			name: "a Harbor 2.0 copy by digest with a repo:sha256 resource_url is skipped as a push by digest",
			file: "push-artifact-cnab-copy-issue-11713.json",
			want: Result{Skipped: []Skip{{Ref: "aaa/cnab_copy@" + hCNAB, Reason: "push by digest without a tag"}}},
		},
		{
			name: "a Harbor 1.x pushImage is a push, and the tag field wins over the resource_url tag",
			file: "push-image-harbor-1.x-keel.json",
			want: Result{Pushes: []Push{{Host: "quay.io", Repository: "mynamespace/repository", Tag: "2.1.6", Digest: hKeel, PushedAt: unixUTC(1582640688)}}},
		},
		{
			name: "a pull is skipped",
			file: "pull-artifact-docs.json",
			want: Result{Skipped: []Skip{{Ref: "harbor/alpine@" + hAlpine, Reason: "pull event, not a push"}}},
		},
		{
			name: "the pull body of Harbor's own formatter test is skipped",
			file: "pull-artifact-harbor-default-test.json",
			want: Result{Skipped: []Skip{{Ref: "library/busybox@" + hBusybox, Reason: "pull event, not a push"}}},
		},
		{
			name: "a delete is skipped",
			file: "delete-artifact-docs.json",
			want: Result{Skipped: []Skip{{Ref: "harbor/alpine:3.8@" + hAlpine8, Reason: "delete event, not a push"}}},
		},
		{
			name: "a completed scan is skipped",
			file: "scanning-completed-docs.json",
			want: Result{Skipped: []Skip{{Ref: "harbor/alpine@" + hAlpine, Reason: "scan event, not a push"}}},
		},
		{
			name: "a stopped scan is skipped",
			file: "scanning-stopped-docs.json",
			want: Result{Skipped: []Skip{{Ref: "harbor/alpine@" + hStopped, Reason: "scan event, not a push"}}},
		},
		{
			name: "a failed scan is skipped",
			file: "scanning-failed-docs.json",
			want: Result{Skipped: []Skip{{Ref: "harbor/alpine@" + hFailed, Reason: "scan event, not a push"}}},
		},
		{
			name: "an exceeded quota is skipped",
			file: "quota-exceed-docs.json",
			want: Result{Skipped: []Skip{{Ref: "harbor/alpine@" + hQuotaX, Reason: "quota event, not a push"}}},
		},
		{
			name: "a quota warning is skipped",
			file: "quota-warning-docs.json",
			want: Result{Skipped: []Skip{{Ref: "harbor/alpine@" + hQuotaW, Reason: "quota event, not a push"}}},
		},
		{
			name: "a replication status event, which names no resource, is skipped as a whole",
			file: "replication-docs.json",
			want: Result{Skipped: []Skip{{Ref: "", Reason: "replication event, not a push"}}},
		},
		{
			name: "a tag retention event is skipped as a whole",
			file: "tag-retention-docs.json",
			want: Result{Skipped: []Skip{{Ref: "", Reason: "tag retention event, not a push"}}},
		},
		{
			name:    "a CloudEvents payload is refused with a hint to choose the Default format",
			file:    "artifact-deleted-cloudevents-docs.json",
			wantErr: errIs(errHarborCloudEvents),
		},
		{
			name:    "the shape shown in the 1.10 docs has no type and is refused",
			file:    "push-image-docs-1.10.json",
			wantErr: errIs(errNoEventType),
		},

		// Non-container artifacts: Harbor's Default payload carries no type,
		// so these resources are written for the test.
		{
			name: "a resource whose artifact_type is CHART is a helm chart",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"1.0.0","resource_url":"harbor.example.com/team/app:1.0.0","artifact_type":"CHART"}`, hRepo),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.0.0@" + hAlpine, Reason: "helm chart, not a container image"}}},
		},
		{
			name: "a resource whose type is CNAB is a cnab bundle",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"1.0.0","resource_url":"harbor.example.com/team/app:1.0.0","type":"CNAB"}`, hRepo),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.0.0@" + hAlpine, Reason: "cnab bundle, not a container image"}}},
		},
		{
			name: "an unknown artifact type is skipped and named",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"1.0.0","resource_url":"harbor.example.com/team/app:1.0.0","artifact_type":"WASM"}`, hRepo),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.0.0@" + hAlpine, Reason: `artifact type "WASM", not a container image`}}},
		},
		{
			name: "artifact type IMAGE is an image",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"1.0.0","resource_url":"harbor.example.com/team/app:1.0.0","artifact_type":"IMAGE"}`, hRepo),
			want: Result{Pushes: []Push{teamApp("1.0.0")}},
		},
		{
			name: "a helm config media type is a helm chart",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"1.0.0","resource_url":"harbor.example.com/team/app:1.0.0","media_type":"application/vnd.cncf.helm.config.v1+json"}`, hRepo),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.0.0@" + hAlpine, Reason: "helm chart, not a container image"}}},
		},
		{
			name: "an image index manifest media type is kept on the push",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"1.0.0","resource_url":"harbor.example.com/team/app:1.0.0","manifest_media_type":"application/vnd.oci.image.index.v1+json"}`, hRepo),
			want: Result{Pushes: []Push{func() Push {
				p := teamApp("1.0.0")
				p.MediaType = "application/vnd.oci.image.index.v1+json"
				return p
			}()}},
		},
		{
			name: "a repo_type naming a chart repository is a helm chart",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"1.0.0","resource_url":"harbor.example.com/team/app:1.0.0"}`, `{"repo_full_name":"team/app","repo_type":"chart"}`),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.0.0@" + hAlpine, Reason: "helm chart, not a container image"}}},
		},
		{
			name: "a repository named like a chart tool is still an image: the name is never used",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"3.8.1","resource_url":"harbor.example.com/alpine/helm:3.8.1"}`, `{"name":"helm","namespace":"alpine","repo_full_name":"alpine/helm","repo_type":"private"}`),
			want: Result{Pushes: []Push{{Host: "harbor.example.com", Repository: "alpine/helm", Tag: "3.8.1", Digest: hAlpine, PushedAt: unixUTC(1700000000)}}},
		},
		{
			name: "a chart upload event is skipped as a helm chart",
			body: `{"type":"UPLOAD_CHART","occur_at":1700000000,"event_data":{"resources":[{"tag":"0.1.0","resource_url":"harbor.example.com/chartrepo/team/charts/app-0.1.0.tgz"}],"repository":{"name":"app","namespace":"team"}}}`,
			want: Result{Skipped: []Skip{{Ref: "team/app:0.1.0", Reason: "helm chart, not a container image"}}},
		},
		{
			name: "a Harbor 1.x uploadChart event is skipped as a helm chart",
			body: `{"type":"uploadChart","occur_at":1700000000,"event_data":{"resources":[],"repository":{"name":"app","namespace":"team"}}}`,
			want: Result{Skipped: []Skip{{Ref: "team/app", Reason: "helm chart, not a container image"}}},
		},
		{
			name: "a cosign signature tag is skipped",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"sha256-954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4.sig","resource_url":"harbor.example.com/team/app:sha256-954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4.sig"}`, hRepo),
			want: Result{Skipped: []Skip{{Ref: "team/app:sha256-954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4.sig@" + hAlpine, Reason: "cosign signature tag, not a container image"}}},
		},

		// Shape variations.
		{
			name: "two resources give two pushes in body order",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"b","resource_url":"harbor.example.com/team/app:b"},{"digest":"`+hAlpine+`","tag":"a","resource_url":"harbor.example.com/team/app:a"}`, hRepo),
			want: Result{Pushes: []Push{teamApp("b"), teamApp("a")}},
		},
		{
			name: "an empty tag is a push by digest",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"","resource_url":"harbor.example.com/team/app@`+hAlpine+`"}`, hRepo),
			want: Result{Skipped: []Skip{{Ref: "team/app@" + hAlpine, Reason: "push by digest without a tag"}}},
		},
		{
			name: "the harbor decoder does not take a missing tag from resource_url",
			body: harborPush(`{"digest":"`+hAlpine+`","resource_url":"harbor.example.com/team/app:1.0.0"}`, hRepo),
			want: Result{Skipped: []Skip{{Ref: "team/app@" + hAlpine, Reason: "push by digest without a tag"}}},
		},
		{
			name: "without a repository object the repository comes from resource_url",
			body: `{"type":"PUSH_ARTIFACT","occur_at":1700000000,"event_data":{"resources":[{"digest":"` + hAlpine + `","tag":"1.0.0","resource_url":"harbor.example.com:8443/team/sub/app:1.0.0"}]}}`,
			want: Result{Pushes: []Push{{Host: "harbor.example.com:8443", Repository: "team/sub/app", Tag: "1.0.0", Digest: hAlpine, PushedAt: unixUTC(1700000000)}}},
		},
		{
			name: "the host of resource_url is lower-cased",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"1.0.0","resource_url":"Harbor.Example.com/team/app:1.0.0"}`, hRepo),
			want: Result{Pushes: []Push{teamApp("1.0.0")}},
		},
		{
			name: "namespace and name make the repository when repo_full_name is missing",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"1.0.0","resource_url":"harbor.example.com/team/app:1.0.0"}`, `{"name":"app","namespace":"team"}`),
			want: Result{Pushes: []Push{teamApp("1.0.0")}},
		},
		{
			name: "a push without event_data is skipped",
			body: `{"type":"PUSH_ARTIFACT","occur_at":1700000000}`,
			want: Result{Skipped: []Skip{{Ref: "", Reason: "push event without resources"}}},
		},
		{
			name: "a null resource names no repository and is skipped",
			body: `{"type":"PUSH_ARTIFACT","event_data":{"resources":[null]}}`,
			want: Result{Skipped: []Skip{{Ref: "", Reason: "push without a repository name"}}},
		},
		{
			name: "an upper-case repository is not a repository name",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"1.0.0","resource_url":"harbor.example.com/Team/App:1.0.0"}`, `{"repo_full_name":"Team/App"}`),
			want: Result{Skipped: []Skip{{Ref: "Team/App:1.0.0@" + hAlpine, Reason: `invalid repository name "Team/App"`}}},
		},
		{
			name: "a tag with a space is not a tag",
			body: harborPush(`{"digest":"`+hAlpine+`","tag":"1.0 beta","resource_url":""}`, hRepo),
			want: Result{Skipped: []Skip{{Ref: "team/app:1.0 beta@" + hAlpine, Reason: `invalid tag "1.0 beta"`}}},
		},
		{
			name: "event types match without case or underscores",
			body: `{"type":"push_artifact","occur_at":1700000000,"event_data":{"resources":[{"digest":"` + hAlpine + `","tag":"1.0.0","resource_url":"harbor.example.com/team/app:1.0.0"}],"repository":` + hRepo + `}}`,
			want: Result{Pushes: []Push{teamApp("1.0.0")}},
		},
		{
			name: "an unknown event type is skipped and named",
			body: `{"type":"ARTIFACT_SIGNED","event_data":{"repository":` + hRepo + `}}`,
			want: Result{Skipped: []Skip{{Ref: "team/app", Reason: `unsupported event type "ARTIFACT_SIGNED"`}}},
		},
		{
			name: "an unreadable occur_at leaves the time zero instead of refusing the push",
			body: `{"type":"PUSH_ARTIFACT","occur_at":{"when":"now"},"event_data":{"resources":[{"digest":"` + hAlpine + `","tag":"1.0.0","resource_url":"harbor.example.com/team/app:1.0.0"}],"repository":` + hRepo + `}}`,
			want: Result{Pushes: []Push{{Host: "harbor.example.com", Repository: "team/app", Tag: "1.0.0", Digest: hAlpine}}},
		},

		// Not Harbor at all.
		{name: "the harbor decoder does not read event_type", body: `{"event_type":"PUSH_ARTIFACT","event_data":{}}`, wantErr: errIs(errNoEventType)},
		{name: "an empty object has no event type", body: `{}`, wantErr: errIs(errNoEventType)},
		{name: "null is not an object", body: `null`, wantErr: errIs(errNotJSONObject)},
		{name: "an array is not an object", body: `[{"type":"PUSH_ARTIFACT"}]`, wantErr: errIs(errNotJSONObject)},
		{name: "an empty body is not an object", body: ``, wantErr: errIs(errNotJSONObject)},
		{name: "text is not JSON", body: `type=PUSH_ARTIFACT`, wantErr: errIs(errNotJSONObject)},
		{name: "truncated JSON is a syntax error", body: `{"type":"PUSH_ARTIFACT","event_data":{`, wantErr: errSyntax},
		{name: "a numeric type is the wrong shape", body: `{"type":1}`, wantErr: errType},
		{name: "resources as an object is the wrong shape", body: `{"type":"PUSH_ARTIFACT","event_data":{"resources":{}}}`, wantErr: errType},
	})
}

func FuzzHarbor(f *testing.F) {
	fuzzDecoder(f, "harbor", fuzzSeeds{bodies: []string{
		harborPush(`{"digest":"`+hAlpine+`","tag":"1.0.0","resource_url":"harbor.example.com/team/app:1.0.0","artifact_type":"CHART"}`, hRepo),
		`{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"resource_url":"h:1/a:b:c@d@e"}]}}`,
	}})
}

// BenchmarkDecodeHarbor decodes the documented push: one resource, tagged.
func BenchmarkDecodeHarbor(b *testing.B) {
	benchDecoder(b, "harbor", "push-artifact-docs-2.0.json", nil)
}

// TestHarborAliases proves that harbor-v1 and tencent-tcr are the harbor
// decoder under other names: every fixture of the three decodes the same
// under each, and an error differs only in the format it names.
func TestHarborAliases(t *testing.T) {
	aliases := []string{"harbor", "harbor-v1", "tencent-tcr"}
	for _, dir := range aliases {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
		}
		for _, file := range files {
			t.Run(file, func(t *testing.T) {
				body := readFixture(t, dir, filepath.Base(file))
				want, wantErr := decoderFor(t, "harbor")(body, nil)
				for _, alias := range aliases[1:] {
					got, err := decoderFor(t, alias)(body, nil)
					if (err == nil) != (wantErr == nil) {
						t.Fatalf("%s: error %v, harbor: error %v", alias, err, wantErr)
					}
					if err != nil {
						if strings.TrimPrefix(err.Error(), alias+": ") != strings.TrimPrefix(wantErr.Error(), "harbor: ") {
							t.Errorf("%s: error %q, harbor: error %q", alias, err, wantErr)
						}
						continue
					}
					if !resultsEqual(got, want) {
						t.Errorf("%s =%s\nharbor =%s", alias, formatResult(got), formatResult(want))
					}
				}
			})
		}
	}
}
