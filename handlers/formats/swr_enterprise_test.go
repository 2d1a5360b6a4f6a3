package formats

import (
	"testing"
	"time"
)

const (
	swrDigest   = "sha256:3c6ba8e8a7a8e4b0b6c0b4d3f1e2a9c8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a392"
	swrByDigest = "sha256:5d41402abc4b2a76b9719d911017c592aaf0b8a7c8e1d2f3a4b5c6d7e8f9a0b1"
	swrHost     = "ee-instance.example.com"
)

func TestSWREnterprise(t *testing.T) {
	gateway := Push{Host: swrHost, InstanceURL: swrHost, Repository: "payments/api-gateway", Tag: "v1.4.0", Digest: swrDigest, PushedAt: unixUTC(1748503200)}
	runDecoder(t, "swr-enterprise", []decodeCase{
		{
			name: "Harbor's push shape becomes a push whose instance URL is the resource_url host",
			file: "push-artifact-harbor-shape.json",
			want: Result{Pushes: []Push{gateway}},
		},
		{
			name: "a lower-case type, milliseconds as a string, a scheme and no repo_full_name are tolerated",
			file: "push-artifact-lowercase-ms.json",
			want: Result{Pushes: []Push{func() Push {
				p := gateway
				p.PushedAt = time.UnixMilli(1748503200123).UTC()
				return p
			}()}},
		},
		{
			name: "event_type, no repository object and no tag: both come from resource_url",
			file: "push-artifact-event-type-url-only.json",
			want: Result{Pushes: []Push{{Host: swrHost + ":443", InstanceURL: swrHost + ":443", Repository: "payments/tools/migrator", Tag: "2025.05.29", Digest: swrDigest, PushedAt: unixUTC(1748503200)}}},
		},
		{
			name: "a push by digest is skipped",
			file: "push-artifact-by-digest.json",
			want: Result{Skipped: []Skip{{Ref: "payments/api-gateway@" + swrByDigest, Reason: "push by digest without a tag"}}},
		},
		{
			name: "Harbor's documented push decodes unchanged, with the instance URL set",
			file: "../harbor/push-artifact-docs-2.0.json",
			want: Result{Pushes: []Push{{Host: "hub.harbor.com", InstanceURL: "hub.harbor.com", Repository: "test-webhook/debian", Tag: "latest", Digest: hDebian, PushedAt: unixUTC(1586922308)}}},
		},
		{
			name: "Harbor's push by digest is skipped",
			file: "../harbor/push-artifact-by-digest-docs.json",
			want: Result{Skipped: []Skip{{Ref: "harbor/alpine@" + hAlpine, Reason: "push by digest without a tag"}}},
		},
		{
			name: "a pull, should an instance send one, is skipped",
			file: "../harbor/pull-artifact-docs.json",
			want: Result{Skipped: []Skip{{Ref: "harbor/alpine@" + hAlpine, Reason: "pull event, not a push"}}},
		},
		{
			name: "a hyphenated camel-case type is a push",
			body: `{"type":"Push-Artifact","event_data":{"resources":[{"tag":"v1","resource_url":"` + swrHost + `/payments/web:v1"}]}}`,
			want: Result{Pushes: []Push{{Host: swrHost, InstanceURL: swrHost, Repository: "payments/web", Tag: "v1"}}},
		},
		{
			name: "type wins over event_type when both are present",
			body: `{"type":"PULL_ARTIFACT","event_type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"v1","resource_url":"` + swrHost + `/payments/web:v1"}]}}`,
			want: Result{Skipped: []Skip{{Ref: "payments/web:v1", Reason: "pull event, not a push"}}},
		},
		{
			name: "a resource_url without a host gives no host and no instance URL",
			body: `{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"v1","resource_url":"payments/web:v1"}]}}`,
			want: Result{Pushes: []Push{{Repository: "payments/web", Tag: "v1"}}},
		},
		{
			name: "a resource with neither a repository nor a resource_url is skipped",
			body: `{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"v1"}]}}`,
			want: Result{Skipped: []Skip{{Ref: "", Reason: "push without a repository name"}}},
		},
		{name: "a body with no event type at all is refused", body: `{"event_data":{"resources":[]}}`, wantErr: errIs(errNoEventType)},
		{name: "a CloudEvents body is refused", file: "../harbor/artifact-deleted-cloudevents-docs.json", wantErr: errIs(errHarborCloudEvents)},
		{name: "null is not an object", body: `null`, wantErr: errIs(errNotJSONObject)},
		{name: "an array is not an object", body: `[]`, wantErr: errIs(errNotJSONObject)},
		{name: "truncated JSON is a syntax error", body: `{"type":"PUSH_ARTIFACT"`, wantErr: errSyntax},
		{name: "event_data as a string is the wrong shape", body: `{"type":"PUSH_ARTIFACT","event_data":"x"}`, wantErr: errType},
	})
}

func FuzzSWREnterprise(f *testing.F) {
	fuzzDecoder(f, "swr-enterprise", fuzzSeeds{dirs: []string{"harbor"}, bodies: []string{
		`{"event_type":"push_artifact","occur_at":"2025-05-29T07:20:00+08:00","event_data":{"resources":[{"resource_url":"x.y/a/b:c"}]}}`,
	}})
}

// BenchmarkDecodeSWREnterprise decodes a push in Harbor's shape.
func BenchmarkDecodeSWREnterprise(b *testing.B) {
	benchDecoder(b, "swr-enterprise", "push-artifact-harbor-shape.json", nil)
}
