package formats

import (
	"net/http"
	"testing"
)

func ceBinary(ceType string) http.Header {
	return http.Header{
		"Ce-Specversion": {"1.0"},
		"Ce-Id":          {"ce-1"},
		"Ce-Source":      {"/registry"},
		"Ce-Type":        {ceType},
		"Ce-Time":        {"2024-02-03T04:05:06Z"},
		"Content-Type":   {"application/json"},
	}
}

func TestCloudEvents(t *testing.T) {
	structured := http.Header{"Content-Type": {"application/cloudevents+json; charset=utf-8"}}
	runDecoder(t, "cloudevents", []decodeCase{
		{
			name:   "a structured harbor artifact pushed event is a push",
			file:   "structured-harbor-pushed.json",
			header: structured,
			want: Result{Pushes: []Push{{
				Host: "localhost:8081", Repository: "ocean-integration/redis", Tag: "v1",
				Digest:   "sha256:e19a92f6821ebdbfa6676b7133c594c7ea9c3702daf773f5064845b9f8642b93",
				PushedAt: mustTime(t, "2025-10-30T01:06:56Z"), EventID: "4418e706-e298-4f5a-8b7e-fa842a37eb17",
			}}},
		},
		{
			name:   "a structured acr image pushed event is a push",
			file:   "structured-acr-imagepushed.json",
			header: structured,
			want: Result{Pushes: []Push{{
				Host: "demo.azurecr.io", Repository: "aci-helloworld", Tag: "v1",
				Digest:    "sha256:213bbc182920ab41e18edc2001e06abcca6735d87782d9cef68abd83941cf0e5",
				MediaType: "application/vnd.docker.distribution.manifest.v2+json",
				PushedAt:  mustTime(t, "2018-04-25T21:39:47.276585742Z"), EventID: "831e1650-001e-001b-66ab-eeb76e069631",
			}}},
		},
		{
			name:   "a binary event carrying a distribution pull is skipped",
			file:   "binary-distribution-envelope.json",
			header: ceBinary("org.distribution.notification"),
			want: Result{Skipped: []Skip{{
				Ref:    "hello-world:latest@sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
				Reason: "pull event, not a push",
			}}},
		},
		{
			name:   "a binary event carrying a distribution push is a push on the request host",
			header: ceBinary("org.distribution.notification"),
			body:   `{"id":"ev-9","timestamp":"2024-02-03T04:05:00Z","action":"push","target":{"mediaType":"application/vnd.oci.image.index.v1+json","repository":"team/app","tag":"2.0","digest":"sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf"},"request":{"host":"reg.example.com"}}`,
			want: Result{Pushes: []Push{{
				Host: "reg.example.com", Repository: "team/app", Tag: "2.0",
				Digest:    "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
				MediaType: "application/vnd.oci.image.index.v1+json",
				PushedAt:  mustTime(t, "2024-02-03T04:05:00Z"), EventID: "ce-1",
			}}},
		},
		{
			name:   "a structured event with the generic object is a push",
			file:   "structured-generic.json",
			header: structured,
			want: Result{Pushes: []Push{{
				Host: "swr.cn-north-4.myhuaweicloud.com", Repository: "team/api", Tag: "1.4.2",
				Digest:   "sha256:4c9a2f8e1b7d6c5a3f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a",
				PushedAt: mustTime(t, "2025-01-15T08:29:58Z"), EventID: "9b4a1f0e-5d7c-4f1a-9a63-2f1c2e7f0b11",
			}}},
		},
		{
			name:   "a binary event whose data is an array of generic objects is one push each, timed by ce-time",
			header: ceBinary("com.example.pushed"),
			body:   `[{"repository":"a/b","tag":"1"},{"repository":"a/b","tag":"2","pushed_at":"2023-11-14T22:13:20Z","id":"own-2"}]`,
			want: Result{Pushes: []Push{
				{Repository: "a/b", Tag: "1", EventID: "ce-1", PushedAt: mustTime(t, "2024-02-03T04:05:06Z")},
				{Repository: "a/b", Tag: "2", EventID: "own-2", PushedAt: mustTime(t, "2023-11-14T22:13:20Z")},
			}},
		},
		{
			name:   "the spec's example event is skipped",
			file:   "structured-spec-example.json",
			header: structured,
			want:   Result{Skipped: []Skip{{Reason: "cloudevents com.example.someevent event carries no image push"}}},
		},
		{
			name:   "a batch yields one push per pushed tag",
			header: http.Header{"Content-Type": {"application/cloudevents-batch+json"}},
			body: `[{"specversion":"1.0","id":"1","source":"s","type":"harbor.artifact.pushed","data":{"resources":[{"tag":"v1"}],"repository":{"repo_full_name":"p/a"}}},
				{"specversion":"1.0","id":"2","source":"s","type":"harbor.artifact.deleted","data":{"resources":[{"tag":"v0"}],"repository":{"repo_full_name":"p/a"}}},
				{"specversion":"1.0","id":"3","source":"s","type":"x","data":{"repository":"p/b","tag":"v2"}}]`,
			want: Result{
				Pushes:  []Push{{Repository: "p/a", Tag: "v1", EventID: "1"}, {Repository: "p/b", Tag: "v2", EventID: "3"}},
				Skipped: []Skip{{Ref: "p/a:v0", Reason: "delete event, not a push"}},
			},
		},
		{
			name:   "an acr image deleted event is skipped",
			header: ceBinary("Microsoft.ContainerRegistry.ImageDeleted"),
			body:   `{"action":"delete","target":{"repository":"a"}}`,
			want:   Result{Skipped: []Skip{{Reason: "delete event, not a push"}}},
		},
		{
			name: "data_base64 is decoded",
			body: `{"specversion":"1.0","id":"b64","source":"s","type":"x","data_base64":"eyJyZXBvc2l0b3J5IjoiYS9iIiwidGFnIjoiMyJ9"}`,
			want: Result{Pushes: []Push{{Repository: "a/b", Tag: "3", EventID: "b64"}}},
		},
		{
			name:   "binary data that is not JSON is skipped",
			header: ceBinary("com.example.text"),
			body:   `hello`,
			want:   Result{Skipped: []Skip{{Reason: "cloudevents com.example.text event without JSON data"}}},
		},
		{
			name:   "a generic object pushing a cosign signature is skipped",
			header: ceBinary("com.example.pushed"),
			body:   `{"repository":"a/b","tag":"sha256-fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf.sig"}`,
			want: Result{Skipped: []Skip{{
				Ref:    "a/b:sha256-fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf.sig",
				Reason: "cosign signature tag, not a container image",
			}}},
		},
		{
			name:    "generic data that breaks the generic format's rules is an error, as it is for the generic format",
			header:  ceBinary("com.example.pushed"),
			body:    `{"repository":"a/b","tag":"1","colour":"blue"}`,
			wantErr: genericFieldErr(0, "colour"),
		},
		{
			// The structured path used to drop this error and answer
			// "ignored", letting a malformed generic event through unnoticed.
			name:    "structured generic data that breaks the generic format's rules is an error too",
			header:  structured,
			body:    `{"specversion":"1.0","id":"s1","source":"s","type":"com.example.pushed","data":{"repository":"a/b","tag":"1","colour":"blue"}}`,
			wantErr: genericFieldErr(0, "colour"),
		},
		{name: "a body that is not JSON and no ce headers is an error", body: `hello`, wantErr: errIs(ErrMalformed)},
		{name: "a JSON object that is not a cloudevent is an error", body: `{"repository":"a/b","tag":"1"}`, wantErr: errIs(ErrMalformed)},
		{name: "binary mode without ce-type is an error", header: http.Header{"Ce-Specversion": {"1.0"}}, body: `{}`, wantErr: errIs(ErrMalformed)},
		{name: "an empty batch is an error", body: `[]`, wantErr: errIs(ErrMalformed)},
		{name: "a batch of non-events is an error", body: `[{"a":1}]`, wantErr: errIs(ErrMalformed)},
	})
}

func FuzzCloudEvents(f *testing.F) {
	fuzzDecoder(f, "cloudevents", fuzzSeeds{
		header: func(ceType string) http.Header {
			if ceType == "" {
				return http.Header{"Content-Type": {"application/cloudevents+json"}}
			}
			return ceBinary(ceType)
		},
		headerValues: []string{"", "harbor.artifact.pushed", "Microsoft.ContainerRegistry.ImagePushed", "com.example.pushed"},
	})
}

func BenchmarkCloudEvents(b *testing.B) {
	benchDecoder(b, "cloudevents", "structured-harbor-pushed.json", http.Header{"Content-Type": {"application/cloudevents+json"}})
}
