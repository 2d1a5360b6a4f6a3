package formats

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
)

// garEnvelope wraps a notification in a Pub/Sub push envelope.
func garEnvelope(tb testing.TB, notification string) string {
	tb.Helper()
	b, err := json.Marshal(map[string]any{
		"message": map[string]any{
			"data":        base64.StdEncoding.EncodeToString([]byte(notification)),
			"messageId":   "m1",
			"publishTime": "2024-05-06T07:08:09.123Z",
		},
		"subscription": "projects/p/subscriptions/s",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestGAR(t *testing.T) {
	const digest = "sha256:6ec128e26cd5f1e9a8cc1a3d9c6b6dea7b2e1c1b2b5f7a8e9d0c1b2a3f4e5d6c"
	push := Push{
		Host: "us-west1-docker.pkg.dev", Repository: "my-project/my-repo/hello-world", Tag: "1.1", Digest: digest,
		EventID: "2070443601311540", PushedAt: mustTime(t, "2021-02-26T19:13:55.749Z"),
	}
	unwrapped := push
	unwrapped.EventID, unwrapped.PushedAt = "", mustTime(t, "0001-01-01T00:00:00Z")
	unwrappedHeaders := push
	unwrappedHeaders.PushedAt = mustTime(t, "2021-02-26T19:13:55.749Z")
	runDecoder(t, "gar", []decodeCase{
		{name: "an insert with a tag is a push named by the path after the host", file: "insert-tag.json", want: Result{Pushes: []Push{push}}},
		{
			name: "an insert with only a digest is a push by digest",
			file: "insert-digest-only.json",
			want: Result{Skipped: []Skip{{Ref: "my-project/my-repo/hello-world@" + digest, Reason: "push by digest without a tag"}}},
		},
		{
			name: "a delete is skipped",
			file: "delete-tag.json",
			want: Result{Skipped: []Skip{{Ref: "us-west1-docker.pkg.dev/my-project/my-repo/hello-world:1.1", Reason: "delete event, not a push"}}},
		},
		{
			name: "a gcr.io insert maps the project to the namespace",
			file: "insert-gcr.json",
			want: Result{Pushes: []Push{{
				Host: "gcr.io", Repository: "freshly-docker/freshly", Tag: "PIG-267-refactor-email-service",
				Digest:  "sha256:17f4431497a07da98bc16e599ef9d38afb9817049b6e98b71b7e321b946a24d4",
				EventID: "4321", PushedAt: mustTime(t, "2019-05-01T10:00:00Z"),
			}}},
		},
		{name: "an unwrapped message is decoded as the body itself", file: "insert-unwrapped.json", want: Result{Pushes: []Push{unwrapped}}},
		{
			name: "an unwrapped message takes its id and time from the pub/sub headers",
			file: "insert-unwrapped.json",
			header: http.Header{
				"X-Goog-Pubsub-Message-Id":   {"2070443601311540"},
				"X-Goog-Pubsub-Publish-Time": {"2021-02-26T19:13:55.749Z"},
			},
			want: Result{Pushes: []Push{unwrappedHeaders}},
		},
		{
			name: "a bare tag is joined to the image of the digest reference",
			body: garEnvelope(t, `{"action":"INSERT","digest":"us-docker.pkg.dev/p/r/img@`+digest+`","tag":"v1.0.0"}`),
			want: Result{Pushes: []Push{{
				Host: "us-docker.pkg.dev", Repository: "p/r/img", Tag: "v1.0.0", Digest: digest,
				EventID: "m1", PushedAt: mustTime(t, "2024-05-06T07:08:09.123Z"),
			}}},
		},
		{
			name: "a cosign signature tag is skipped",
			body: garEnvelope(t, `{"action":"INSERT","tag":"europe-docker.pkg.dev/p/r/img:sha256-6ec128e26cd5f1e9a8cc1a3d9c6b6dea7b2e1c1b2b5f7a8e9d0c1b2a3f4e5d6c.sig"}`),
			want: Result{Skipped: []Skip{{
				Ref:    "p/r/img:sha256-6ec128e26cd5f1e9a8cc1a3d9c6b6dea7b2e1c1b2b5f7a8e9d0c1b2a3f4e5d6c.sig",
				Reason: "cosign signature tag, not a container image",
			}}},
		},
		{
			name: "an unknown action is skipped",
			body: garEnvelope(t, `{"action":"UPDATE","tag":"gcr.io/p/i:1"}`),
			want: Result{Skipped: []Skip{{Ref: "gcr.io/p/i:1", Reason: "gar UPDATE event, not a push"}}},
		},
		{name: "a body that is not JSON is an error", body: `message=1`, wantErr: errIs(ErrMalformed)},
		{name: "an envelope whose data is not base64 is an error", body: `{"message":{"data":"%%%"}}`, wantErr: errIs(ErrMalformed)},
		{name: "an envelope without data is an error", body: `{"message":{"messageId":"1"}}`, wantErr: errIs(ErrMalformed)},
		{name: "data that is not JSON is an error", body: garEnvelope(t, `hello`), wantErr: errIs(ErrMalformed)},
		{name: "data without an action is an error", body: garEnvelope(t, `{"tag":"gcr.io/p/i:1"}`), wantErr: errIs(ErrMalformed)},
		{name: "an insert whose references do not parse is an error", body: garEnvelope(t, `{"action":"INSERT","tag":":"}`), wantErr: errIs(ErrMalformed)},
	})
}

func FuzzGAR(f *testing.F) {
	fuzzDecoder(f, "gar", fuzzSeeds{
		header: func(id string) http.Header {
			return http.Header{"X-Goog-Pubsub-Message-Id": {id}, "X-Goog-Pubsub-Publish-Time": {id}}
		},
		headerValues: []string{"", "2021-02-26T19:13:55.749Z"},
	})
}

func BenchmarkGAR(b *testing.B) { benchDecoder(b, "gar", "insert-tag.json", nil) }
