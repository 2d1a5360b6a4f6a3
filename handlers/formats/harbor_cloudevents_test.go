package formats

import "testing"

func TestHarborCloudEvents(t *testing.T) {
	runDecoder(t, "harbor-cloudevents", []decodeCase{
		{
			name: "the documented artifact pushed event, a push by digest, is skipped",
			file: "artifact-pushed-by-digest.json",
			want: Result{Skipped: []Skip{{
				Ref:    "harbor/alpine@sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4",
				Reason: "push by digest without a tag",
			}}},
		},
		{
			name: "an artifact pushed event with a tag is a push with the event id and time",
			file: "artifact-pushed-tag.json",
			want: Result{Pushes: []Push{{
				Host: "localhost:8081", Repository: "ocean-integration/redis", Tag: "v1",
				Digest:   "sha256:e19a92f6821ebdbfa6676b7133c594c7ea9c3702daf773f5064845b9f8642b93",
				PushedAt: mustTime(t, "2025-10-30T01:06:56Z"), EventID: "4418e706-e298-4f5a-8b7e-fa842a37eb17",
			}}},
		},
		{
			name: "an artifact deleted event is skipped",
			body: `{"specversion":"1.0","id":"1","type":"harbor.artifact.deleted","data":{"resources":[{"tag":"v1"}],"repository":{"repo_full_name":"a/b"}}}`,
			want: Result{Skipped: []Skip{{Ref: "a/b:v1", Reason: "delete event, not a push"}}},
		},
		{
			name: "a scan completed event is skipped",
			body: `{"specversion":"1.0","id":"1","type":"harbor.scan.completed","data":{"resources":[{"tag":"v1"}],"repository":{"repo_full_name":"a/b"}}}`,
			want: Result{Skipped: []Skip{{Ref: "a/b:v1", Reason: "scan event, not a push"}}},
		},
		{
			name: "a quota event without data is skipped",
			body: `{"specversion":"1.0","id":"1","type":"harbor.quota.exceeded"}`,
			want: Result{Skipped: []Skip{{Reason: "quota event, not a push"}}},
		},
		{
			// Before the parser was shared with harbor.go, this gave the
			// reason "push".
			name: "an artifact pushed event without data is skipped as a push without resources",
			body: `{"specversion":"1.0","id":"1","type":"harbor.artifact.pushed"}`,
			want: Result{Skipped: []Skip{{Reason: "push event without resources"}}},
		},
		{name: "a body that is not JSON is an error", body: `{"specversion"`, wantErr: errIs(ErrMalformed)},
		{name: "the default format is not a cloudevent", body: `{"type":"PUSH_ARTIFACT","event_data":{}}`, wantErr: errIs(ErrMalformed)},
	})
}

func FuzzHarborCloudEvents(f *testing.F) { fuzzDecoder(f, "harbor-cloudevents", fuzzSeeds{}) }

func BenchmarkHarborCloudEvents(b *testing.B) {
	benchDecoder(b, "harbor-cloudevents", "artifact-pushed-tag.json", nil)
}
