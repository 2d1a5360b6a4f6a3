package formats

import "testing"

func TestArtifactory(t *testing.T) {
	runDecoder(t, "artifactory", []decodeCase{
		{
			name: "a docker pushed event is a push named by repository key and image",
			file: "pushed.json",
			want: Result{Pushes: []Push{{
				Host: "example.jfrog.io", Repository: "docker-remote-cache/library/ubuntu", Tag: "latest",
				Digest: "sha256:35c4a2c15539c6c1e4e5fa4e554dac323ad0107d8eb5c582d6ff386b383b7dce",
			}}},
		},
		{
			name: "a docker deleted event is skipped",
			file: "deleted.json",
			want: Result{Skipped: []Skip{{Ref: "sample_repo/sample_arch:sample_image@sha256:sample_checksum", Reason: "delete event, not a push"}}},
		},
		{
			name: "a promoted event is skipped",
			body: `{"domain":"docker","event_type":"promoted","data":{"repo_key":"r","image_name":"a/b","tag":"1"}}`,
			want: Result{Skipped: []Skip{{Ref: "r/a/b:1", Reason: "docker promoted event, not a push"}}},
		},
		{
			name: "an event of another domain is skipped",
			body: `{"domain":"artifact","event_type":"deployed","data":{"repo_key":"libs","path":"a/b.jar","name":"b.jar"}}`,
			want: Result{Skipped: []Skip{{Ref: "", Reason: "artifactory artifact event, not a docker push"}}},
		},
		{
			name:    "the bare data object without its webhook envelope is an error",
			body:    `{"repo_key":"x","event_type":"pushed"}`,
			wantErr: errIs(ErrMalformed),
		},
		{
			name: "a cosign signature pushed as a tag is skipped",
			body: `{"domain":"docker","event_type":"pushed","data":{"repo_key":"r","image_name":"a/b","tag":"sha256-35c4a2c15539c6c1e4e5fa4e554dac323ad0107d8eb5c582d6ff386b383b7dce.sig"}}`,
			want: Result{Skipped: []Skip{{
				Ref:    "r/a/b:sha256-35c4a2c15539c6c1e4e5fa4e554dac323ad0107d8eb5c582d6ff386b383b7dce.sig",
				Reason: "cosign signature tag, not a container image",
			}}},
		},
		{name: "a body that is not JSON is an error", body: `domain=docker`, wantErr: errIs(ErrMalformed)},
		{name: "an object without data is an error", body: `{"domain":"docker","event_type":"pushed"}`, wantErr: errIs(ErrMalformed)},
	})
}

func FuzzArtifactory(f *testing.F) { fuzzDecoder(f, "artifactory", fuzzSeeds{}) }

func BenchmarkArtifactory(b *testing.B) { benchDecoder(b, "artifactory", "pushed.json", nil) }
