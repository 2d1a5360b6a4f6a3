package formats

import (
	"encoding/json"
	"testing"
)

// TestEventGridReplyEncoding checks the bytes the handler sends back: Event
// Grid reads exactly {"validationResponse": "<code>"}.
func TestEventGridReplyEncoding(t *testing.T) {
	res, err := decoderFor(t, "acr-eventgrid")(readFixture(t, "acr-eventgrid", "subscription-validation.json"), nil)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	got, err := json.Marshal(res.Reply)
	if err != nil {
		t.Fatalf("encode reply: %v", err)
	}
	if want := `{"validationResponse":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}`; string(got) != want {
		t.Errorf("reply = %s, want %s", got, want)
	}
	if len(res.Pushes) != 0 {
		t.Errorf("a validation must store nothing, got%s", formatResult(res))
	}
}

func TestACR(t *testing.T) {
	const digest = "sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d"
	runDecoder(t, "acr", []decodeCase{
		{
			name: "the documented push is one push with host, digest and media type",
			file: "push.json",
			want: Result{Pushes: []Push{{
				Host: "myregistry.azurecr.io", Repository: "hello-world", Tag: "v1", Digest: digest,
				MediaType: "application/vnd.docker.distribution.manifest.v2+json",
				PushedAt:  mustTime(t, "2017-11-17T16:52:01.343145347Z"),
				EventID:   "cb8c3971-9adc-488b-bdd8-43cbb4974ff5",
			}}},
		},
		{
			name: "a delete is skipped",
			file: "delete.json",
			want: Result{Skipped: []Skip{{Ref: "hello-world@" + digest, Reason: "delete event, not a push"}}},
		},
		{
			name: "a chart push is skipped",
			file: "chart_push.json",
			want: Result{Skipped: []Skip{{
				Ref:    "repo:wordpress-5.4.0.tgz@sha256:xxxxd6c7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3xxxx",
				Reason: "helm chart, not a container image",
			}}},
		},
		{
			name: "a quarantine event is skipped",
			body: `{"id":"1","action":"quarantine","target":{"repository":"app","tag":"v1"}}`,
			want: Result{Skipped: []Skip{{Ref: "app:v1", Reason: "quarantine event, not a push"}}},
		},
		{
			name: "a ping is skipped",
			body: `{"id":"1","action":"ping","target":{}}`,
			want: Result{Skipped: []Skip{{Reason: "acr ping event"}}},
		},
		{
			name: "a push by digest is skipped",
			body: `{"id":"1","action":"push","target":{"repository":"team/app","digest":"` + digest + `"}}`,
			want: Result{Skipped: []Skip{{Ref: "team/app@" + digest, Reason: "push by digest without a tag"}}},
		},
		{
			name: "an OCI artifact pushed with a tag is skipped by its media type",
			body: `{"id":"1","action":"push","target":{"repository":"team/sbom","tag":"v1","mediaType":"application/vnd.oci.artifact.manifest.v1+json"}}`,
			want: Result{Skipped: []Skip{{Ref: "team/sbom:v1", Reason: "oci artifact, not a container image"}}},
		},
		{
			name: "an OCI image index is one push of its tag",
			body: `{"id":"e1","action":"push","target":{"repository":"team/app","tag":"v1","mediaType":"application/vnd.oci.image.index.v1+json"},"request":{"host":"r.azurecr.io"}}`,
			want: Result{Pushes: []Push{{
				Host: "r.azurecr.io", Repository: "team/app", Tag: "v1",
				MediaType: "application/vnd.oci.image.index.v1+json", EventID: "e1",
			}}},
		},
		{name: "a body that is not JSON is an error", body: `{`, wantErr: errIs(ErrMalformed)},
		{name: "an object without action and target is an error", body: `{"id":"1"}`, wantErr: errIs(ErrMalformed)},
		{name: "an event array is not the webhook format", body: `[{"action":"push"}]`, wantErr: errIs(ErrMalformed)},
	})
}

func TestACREventGrid(t *testing.T) {
	const digest = "sha256:213bbc182920ab41e18edc2001e06abcca6735d87782d9cef68abd83941cf0e5"
	pushed := Push{
		Host: "demo.azurecr.io", Repository: "aci-helloworld", Tag: "v1", Digest: digest,
		MediaType: "application/vnd.docker.distribution.manifest.v2+json",
		PushedAt:  mustTime(t, "2018-04-25T21:39:47.276585742Z"),
		EventID:   "831e1650-001e-001b-66ab-eeb76e069631",
	}
	runDecoder(t, "acr-eventgrid", []decodeCase{
		{name: "an image pushed event in the event grid schema is a push", file: "imagepushed-eventgrid-schema.json", want: Result{Pushes: []Push{pushed}}},
		{name: "an image pushed event in the cloudevents schema is a push", file: "imagepushed-cloudevents-schema.json", want: Result{Pushes: []Push{pushed}}},
		{
			name: "an image deleted event is skipped",
			file: "imagedeleted-cloudevents-schema.json",
			want: Result{Skipped: []Skip{{Ref: "aci-helloworld", Reason: "delete event, not a push"}}},
		},
		{
			name: "the subscription validation asks for its code back as the reply and is skipped",
			file: "subscription-validation.json",
			want: Result{
				Skipped: []Skip{{Reason: "event grid subscription validation"}},
				Reply:   eventGridValidationReply{ValidationResponse: "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
			},
		},
		{
			name: "a validation in the cloudevents schema shape is answered the same way",
			body: `{"id":"v1","type":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"code-1"}}`,
			want: Result{
				Skipped: []Skip{{Reason: "event grid subscription validation"}},
				Reply:   eventGridValidationReply{ValidationResponse: "code-1"},
			},
		},
		{
			name: "a single cloudevents-schema event without an array is accepted",
			body: `{"id":"e1","type":"Microsoft.ContainerRegistry.ImagePushed","time":"2024-01-02T03:04:05Z",
				"data":{"target":{"repository":"a/b","tag":"1"},"request":{"host":"r.azurecr.io"}}}`,
			want: Result{Pushes: []Push{{Host: "r.azurecr.io", Repository: "a/b", Tag: "1", EventID: "e1", PushedAt: mustTime(t, "2024-01-02T03:04:05Z")}}},
		},
		{
			name: "a batch yields one push per pushed tag and a skip per other event",
			body: `[{"id":"e1","eventType":"Microsoft.ContainerRegistry.ImagePushed","data":{"action":"push","target":{"repository":"a/b","tag":"1"}}},
				{"id":"e2","eventType":"Microsoft.ContainerRegistry.ChartPushed","subject":"chart:0.1.0","data":{"action":"chart_push","target":{"repository":"chart"}}},
				{"id":"e3","eventType":"Microsoft.ContainerRegistry.ImagePushed","data":{"action":"push","target":{"repository":"a/b","tag":"2"}}},
				{"id":"e4","eventType":"Microsoft.Storage.BlobCreated","subject":"/blobServices/default/containers/x","data":{}}]`,
			want: Result{
				Pushes: []Push{{Repository: "a/b", Tag: "1", EventID: "e1"}, {Repository: "a/b", Tag: "2", EventID: "e3"}},
				Skipped: []Skip{
					{Ref: "chart:0.1.0", Reason: "helm chart, not a container image"},
					{Ref: "/blobServices/default/containers/x", Reason: "event grid Microsoft.Storage.BlobCreated event, not an image push"},
				},
			},
		},
		{name: "a body that is not JSON is an error", body: `nope`, wantErr: errIs(ErrMalformed)},
		{name: "an empty array is an error", body: `[]`, wantErr: errIs(ErrMalformed)},
		{name: "an event without a type is an error", body: `[{"id":"1","data":{}}]`, wantErr: errIs(ErrMalformed)},
		{name: "an image pushed event whose data is not an ACR event is an error", body: `[{"eventType":"Microsoft.ContainerRegistry.ImagePushed","data":"x"}]`, wantErr: errIs(ErrMalformed)},
		{
			name:    "a validation without a code cannot be answered and is an error",
			body:    `[{"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{}}]`,
			wantErr: errIs(errValidationWithoutCode),
		},
		{
			name: "a validation sent with another event is not Event Grid's and is an error",
			body: `[{"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"c"}},
				{"id":"e1","eventType":"Microsoft.ContainerRegistry.ImagePushed","data":{"action":"push","target":{"repository":"a/b","tag":"1"}}}]`,
			wantErr: errIs(errValidationNotAlone),
		},
	})
}

func FuzzACR(f *testing.F) { fuzzDecoder(f, "acr", fuzzSeeds{}) }

func FuzzACREventGrid(f *testing.F) { fuzzDecoder(f, "acr-eventgrid", fuzzSeeds{}) }

func BenchmarkACR(b *testing.B) { benchDecoder(b, "acr", "push.json", nil) }

func BenchmarkACREventGrid(b *testing.B) {
	benchDecoder(b, "acr-eventgrid", "imagepushed-cloudevents-schema.json", nil)
}
