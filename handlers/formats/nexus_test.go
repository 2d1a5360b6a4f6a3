package formats

import (
	"net/http"
	"testing"
)

func nexusHeader(id string) http.Header {
	return http.Header{
		"X-Nexus-Webhook-Id":       {id},
		"X-Nexus-Webhook-Delivery": {"7f4a6dde-5c68-4999-bcc0-a62f3fb8ae48"},
	}
}

func TestNexus(t *testing.T) {
	runDecoder(t, "nexus", []decodeCase{
		{
			name:   "a created docker component is a push of name and version",
			file:   "component-created-docker.json",
			header: nexusHeader("rm:repository:component"),
			want: Result{Pushes: []Push{{
				Repository: "my-app", Tag: "2.0",
				PushedAt: mustTime(t, "2024-03-07T10:21:44.305Z"), EventID: "7f4a6dde-5c68-4999-bcc0-a62f3fb8ae48",
			}}},
		},
		{
			name:   "an npm component is skipped",
			file:   "component-created-npm.json",
			header: nexusHeader("rm:repository:component"),
			want:   Result{Skipped: []Skip{{Ref: "angular2:0.0.2", Reason: "npm component, not a container image"}}},
		},
		{
			name:   "an asset event is skipped",
			file:   "asset-created.json",
			header: nexusHeader("rm:repository:asset"),
			want:   Result{Skipped: []Skip{{Ref: "concrete", Reason: "nexus asset event, not a component push"}}},
		},
		{
			name: "an updated docker component with a path name is a push",
			body: `{"action":"UPDATED","repositoryName":"docker-proxy","component":{"format":"docker","name":"library/eclipse-temurin","version":"17-jdk-ubi9-minimal"}}`,
			want: Result{Pushes: []Push{{Repository: "library/eclipse-temurin", Tag: "17-jdk-ubi9-minimal"}}},
		},
		{
			name: "a deleted docker component is skipped",
			body: `{"action":"DELETED","component":{"format":"docker","name":"my-app","version":"2.0"}}`,
			want: Result{Skipped: []Skip{{Ref: "my-app:2.0", Reason: "delete event, not a push"}}},
		},
		{
			name: "a docker component whose version is a digest is a push by digest",
			body: `{"action":"CREATED","component":{"format":"docker","name":"my-app","version":"sha256:54117fea772255e92722d9709c2f2f21a836e3afc6acd7a867d3b191e95b6915"}}`,
			want: Result{Skipped: []Skip{{Ref: "my-app", Reason: "push by digest without a tag"}}},
		},
		{
			name: "an audit event is skipped",
			body: `{"nodeId":"7FFA7361","initiator":"admin/127.0.0.1","audit":{"domain":"security.user","type":"created"}}`,
			want: Result{Skipped: []Skip{{Reason: "nexus audit event, not a component push"}}},
		},
		{
			name:   "another repository event named by the header is skipped",
			header: nexusHeader("rm:repository:repository"),
			body:   `{"action":"UPDATED","repository":{"format":"docker","name":"docker-hosted"}}`,
			want:   Result{Skipped: []Skip{{Reason: "nexus rm:repository:repository event, not a component push"}}},
		},
		{name: "a body that is not JSON is an error", body: `component`, wantErr: errIs(ErrMalformed)},
		{name: "an object without a component is an error", body: `{"action":"CREATED"}`, wantErr: errIs(ErrMalformed)},
	})
}

func FuzzNexus(f *testing.F) {
	fuzzDecoder(f, "nexus", fuzzSeeds{header: nexusHeader, headerValues: []string{"rm:repository:component", ""}})
}

func BenchmarkNexus(b *testing.B) {
	benchDecoder(b, "nexus", "component-created-docker.json", nexusHeader("rm:repository:component"))
}
