package formats

import (
	"net/http"
	"testing"
)

// The fixtures and the inline bodies here are synthesized from what
// Huawei documents of EventGrid (CloudEvents 1.0 envelopes of CTS audit
// records; testdata/huawei-eventgrid/README.md): the SWR event types and
// data schema are not published, so these rows pin down the defensive
// rules of huawei_eventgrid.go, not a captured payload.

const egDigest256 = "sha256:4c9a2f8e1b7d6c5a3f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a"

// egEvent1 is a structured SWR event with the given type and data.
func egEvent1(ceType, data string) string {
	return `{"specversion":"1.0","id":"ev-1","source":"HC.SWR","type":"` + ceType + `","time":"2026-01-02T09:00:00Z","data":` + data + `}`
}

func TestHuaweiEventGrid(t *testing.T) {
	at := mustTime(t, "2026-01-02T09:00:00Z")
	runDecoder(t, "huawei-eventgrid", []decodeCase{
		{
			name: "an api call trace createTag whose request string names the image is a push",
			file: "cts-apicall-createtag.json",
			want: Result{Pushes: []Push{{
				Repository: "team/api", Tag: "1.4.2", Digest: egDigest256,
				PushedAt: mustTime(t, "2026-01-02T07:04:05.123Z"), EventID: "5b1e2c3d-7f80-4a91-b2c3-d4e5f6a7b8c9",
			}}},
		},
		{
			name: "a console trace uploadImage with the image at the top of data is a push, $ read as /",
			file: "cts-consoleaction-uploadimage.json",
			want: Result{Pushes: []Push{{
				Repository: "payments/tools/migrator", Tag: "2026.01.02",
				PushedAt: mustTime(t, "2026-01-02T08:00:00Z"), EventID: "8c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
			}}},
		},
		{
			name: "an events batch: pushImage by resource_name is a push, deleteRepoTag is skipped",
			file: "batch-events-pushimage-and-deletetag.json",
			want: Result{
				Pushes: []Push{{
					Host: "swr.cn-north-4.myhuaweicloud.com", Repository: "team/web", Tag: "latest",
					PushedAt: at, EventID: "a1b2c3d4-0001-4000-8000-000000000001",
				}},
				Skipped: []Skip{{Ref: "team/web:old", Reason: "delete event, not a push"}},
			},
		},
		{
			name: "createNamespace is a write but no image push",
			file: "cts-createnamespace.json",
			want: Result{Skipped: []Skip{{Ref: "newteam",
				Reason: "huawei eventgrid SWR:CloudTrace:ApiCall event (createNamespace), not an image push"}}},
		},
		{
			name: "a createTag trace that recorded a failed call is skipped",
			file: "cts-createtag-failed.json",
			want: Result{Skipped: []Skip{{Ref: "team/api",
				Reason: "huawei eventgrid SWR:CloudTrace:ApiCall event (createTag) recorded a failed call (code 404), not a push"}}},
		},
		{
			name: "a push named only by the type, image in data.image as a reference",
			body: egEvent1("com.example.swr.image.pushed", `{"image":"team/app:2.0@`+egDigest256+`"}`),
			want: Result{Pushes: []Push{{Repository: "team/app", Tag: "2.0", Digest: egDigest256, PushedAt: at, EventID: "ev-1"}}},
		},
		{
			name: "PUSH_ARTIFACT in data.action with the image in data.resource",
			body: egEvent1("SWR:CloudTrace:ApiCall", `{"action":"PUSH_ARTIFACT","resource":{"namespace_name":"team","repo_name":"app","tag_name":"v1"}}`),
			want: Result{Pushes: []Push{{Repository: "team/app", Tag: "v1", PushedAt: at, EventID: "ev-1"}}},
		},
		{
			name: "a repository that already starts with its namespace is not prefixed twice",
			body: egEvent1("SWR:CloudTrace:ApiCall", `{"trace_name":"createImageTag","namespace":"team","repository":"team/app","image_version":"3"}`),
			want: Result{Pushes: []Push{{Repository: "team/app", Tag: "3", PushedAt: at, EventID: "ev-1"}}},
		},
		{
			name: "without a CloudEvent time the trace time (ms) is the push time; without an id the trace id is the event id",
			body: `{"specversion":"1.0","source":"HC.SWR","type":"SWR:CloudTrace:ApiCall","data":{"trace_id":"tr-9","trace_name":"createTag","time":1767337445000,"namespace":"team","repository":"app","tag":"1"}}`,
			want: Result{Pushes: []Push{{Repository: "team/app", Tag: "1", PushedAt: unixUTC(1767337445), EventID: "tr-9"}}},
		},
		{
			name:   "binary mode: the body is the data, attributes in ce-* headers",
			header: ceBinary("SWR:CloudTrace:ApiCall"),
			body:   `{"trace_name":"createTag","namespace":"team","repository":"app","tag":"latest"}`,
			want: Result{Pushes: []Push{{Repository: "team/app", Tag: "latest",
				PushedAt: mustTime(t, "2024-02-03T04:05:06Z"), EventID: "ce-1"}}},
		},
		{
			name: "an array of structured events is a batch",
			body: `[` + egEvent1("image:push", `{"namespace":"a","repository":"b","tag":"1"}`) + `,` +
				egEvent1("image:pull", `{"namespace":"a","repository":"b","tag":"1"}`) + `]`,
			want: Result{
				Pushes:  []Push{{Repository: "a/b", Tag: "1", PushedAt: at, EventID: "ev-1"}},
				Skipped: []Skip{{Reason: "pull event, not a push"}},
			},
		},
		{
			name: "data_base64 is read when data is absent",
			body: `{"specversion":"1.0","id":"ev-2","type":"SWR:CloudTrace:ApiCall","data_base64":"eyJ0cmFjZV9uYW1lIjoicHVzaEltYWdlIiwibmFtZXNwYWNlIjoidCIsInJlcG9zaXRvcnkiOiJyIiwidGFnIjoieCJ9"}`,
			want: Result{Pushes: []Push{{Repository: "t/r", Tag: "x", EventID: "ev-2"}}},
		},
		{
			name: "the CTS-style type alone says nothing: skipped with the type",
			body: egEvent1("SWR:CloudTrace:ApiCall", `{"namespace":"team","repository":"app","tag":"1"}`),
			want: Result{Skipped: []Skip{{Reason: "huawei eventgrid SWR:CloudTrace:ApiCall event, not an image push"}}},
		},
		{
			name: "createRepo and createImageSyncRepo are creates of something else",
			body: `[` + egEvent1("SWR:CloudTrace:ApiCall", `{"trace_name":"createRepo","namespace":"a","repository":"b","tag":"1"}`) + `,` +
				egEvent1("SWR:CloudTrace:ApiCall", `{"trace_name":"createImageSyncRepo","namespace":"a","repository":"b","tag":"1"}`) + `]`,
			want: Result{Skipped: []Skip{
				{Reason: "huawei eventgrid SWR:CloudTrace:ApiCall event (createRepo), not an image push"},
				{Reason: "huawei eventgrid SWR:CloudTrace:ApiCall event (createImageSyncRepo), not an image push"},
			}},
		},
		{
			name: "a push trace without a tag names no repository and tag",
			body: egEvent1("SWR:CloudTrace:ApiCall", `{"trace_name":"pushImage","resource_name":"team/app"}`),
			want: Result{Skipped: []Skip{{Ref: "team/app",
				Reason: "huawei eventgrid SWR:CloudTrace:ApiCall event (pushImage) names no repository and tag"}}},
		},
		{
			name: "a push by digest only is skipped by the shared rule",
			body: egEvent1("SWR:CloudTrace:ApiCall", `{"trace_name":"pushImage","namespace":"a","repository":"b","tag":"`+egDigest256+`"}`),
			want: Result{Skipped: []Skip{{Ref: "a/b", Reason: "push by digest without a tag"}}},
		},
		{
			name: "a cosign signature tag is skipped by the shared rule",
			body: egEvent1("SWR:CloudTrace:ApiCall", `{"trace_name":"createTag","namespace":"a","repository":"b","tag":"sha256-457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917.sig"}`),
			want: Result{Skipped: []Skip{{Ref: "a/b:sha256-457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917.sig",
				Reason: "cosign signature tag, not a container image"}}},
		},
		{
			name: "data that is not an object leaves nothing to read",
			body: egEvent1("image:push", `"text"`),
			want: Result{Skipped: []Skip{{Reason: "huawei eventgrid image:push event names no repository and tag"}}},
		},
		{name: "an object without specversion and type is refused", body: `{"namespace":"a","repository":"b","tag":"1"}`, wantErr: errIs(errNotCloudEvent)},
		{name: "an empty batch is refused", body: `{"events":[]}`, wantErr: errIs(ErrMalformed)},
		{name: "an empty array is refused", body: `[]`, wantErr: errIs(ErrMalformed)},
		{name: "events with the event's own members is refused", body: `{"specversion":"1.0","type":"x","events":[]}`, wantErr: errIs(ErrMalformed)},
		{name: "a batch event without type is refused", body: `{"events":[{"specversion":"1.0"}]}`, wantErr: errIs(errNotCloudEvent)},
		{name: "binary mode without ce-type is refused", header: http.Header{"Ce-Specversion": {"1.0"}}, body: `{}`, wantErr: errIs(ErrMalformed)},
		{name: "binary mode with data that is not JSON is refused", header: ceBinary("x"), body: `not json`, wantErr: errIs(ErrMalformed)},
		{name: "truncated JSON is a syntax error", body: `{"specversion":"1.0"`, wantErr: errSyntax},
	})
}

// TestEGClassify pins down which names make a push.
func TestEGClassify(t *testing.T) {
	tests := []struct {
		name string
		want egAction
	}{
		{"createTag", egPush}, {"uploadImage", egPush}, {"pushImage", egPush}, {"PUSH_ARTIFACT", egPush},
		{"push", egPush}, {"pushed", egPush}, {"PutManifest", egPush}, {"create-image-version", egPush},
		{"deleteRepoTag", egDelete}, {"DeleteImage", egDelete}, {"pullImage", egPull}, {"downloadImage", egPull},
		{"createRepo", egOther}, {"createNamespace", egOther}, {"createImageSyncRepo", egOther}, {"create", egOther},
		{"put", egOther}, {"createVersion", egOther}, {"createNewTag", egPush}, {"ApiCall", egOther}, {"updateRepo", egOther}, {"", egOther}, {"CreateTagRetention", egOther},
	}
	for _, tt := range tests {
		if got := egClassify(tt.name); got != tt.want {
			t.Errorf("egClassify(%q) = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func FuzzHuaweiEventGrid(f *testing.F) {
	fuzzDecoder(f, "huawei-eventgrid", fuzzSeeds{
		dirs: []string{"cloudevents"},
		header: func(ceType string) http.Header {
			if ceType == "" {
				return nil
			}
			return ceBinary(ceType)
		},
		headerValues: []string{"", "SWR:CloudTrace:ApiCall", "image:push"},
		bodies: []string{
			`{"trace_name":"createTag","namespace":"a","repository":"b","tag":"1"}`,
			`{"events":[{"specversion":"1.0","type":"image:push","subject":"a/b:1"}]}`,
			`{"specversion":"1.0","type":"t","data":{"request":"{\"repository\":\"swr.example.com/a/b:1\"}","trace_name":"pushImage"}}`,
		},
	})
}

func BenchmarkHuaweiEventGrid(b *testing.B) {
	benchDecoder(b, "huawei-eventgrid", "cts-apicall-createtag.json", nil)
}
