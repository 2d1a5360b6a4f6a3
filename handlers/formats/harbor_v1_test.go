package formats

import "testing"

func TestHarborV1(t *testing.T) {
	regRunCases(t, "harbor-v1", []regCase{
		{
			name: "a 1.x pushImage is one push per resource with the host of its resource url",
			file: "pushImage.json",
			want: Result{Pushes: []Push{{
				Host: "harbor.sunvalley.com.cn", Repository: "library/centos", Tag: "7",
				Digest:   "sha256:a36b9e68613d07eec4ef553da84d0012a5ca5ae4a830cf825bb68b929475c869",
				PushedAt: regTime(t, "2019-10-30T05:43:19Z"),
			}}},
		},
		{
			name: "the repository and tag of the event win over a disagreeing resource url",
			file: "pushImage-keel.json",
			want: Result{Pushes: []Push{{
				Host: "quay.io", Repository: "mynamespace/repository", Tag: "2.1.6",
				Digest:   "sha256:b4758aaed11c155a476b9857e1178f157759c99cb04c907a04993f5481eff848",
				PushedAt: regTime(t, "2020-02-25T14:24:48Z"),
			}}},
		},
		{
			name: "the 2.x default format with PUSH_ARTIFACT is understood too",
			file: "PUSH_ARTIFACT-default.json",
			want: Result{Pushes: []Push{{
				Host: "hub.harbor.com", Repository: "test-webhook/debian", Tag: "latest",
				Digest:   "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8",
				PushedAt: regTime(t, "2020-04-15T03:45:08Z"),
			}}},
		},
		{
			name: "two tags of one push are two pushes",
			body: `{"type":"pushImage","occur_at":1,"event_data":{"resources":[{"tag":"a","digest":"d1"},{"tag":"b","digest":"d1"}],"repository":{"repo_full_name":"p/app"}}}`,
			want: Result{Pushes: []Push{
				{Repository: "p/app", Tag: "a", Digest: "d1", PushedAt: regTime(t, "1970-01-01T00:00:01Z")},
				{Repository: "p/app", Tag: "b", Digest: "d1", PushedAt: regTime(t, "1970-01-01T00:00:01Z")},
			}},
		},
		{
			name: "a deleteImage is skipped per resource",
			body: `{"type":"deleteImage","occur_at":1582640688,"event_data":{"resources":[{"tag":"v1","digest":"sha256:b4758aaed11c155a476b9857e1178f157759c99cb04c907a04993f5481eff848"}],"repository":{"repo_full_name":"library/busybox"}}}`,
			want: Result{Skipped: []Skip{{Ref: "library/busybox:v1@sha256:b4758aaed11c155a476b9857e1178f157759c99cb04c907a04993f5481eff848", Reason: "delete event, not a push"}}},
		},
		{
			name: "an uploadChart is skipped as a helm chart",
			body: `{"type":"uploadChart","occur_at":1,"event_data":{"resources":[{"tag":"0.1.0","resource_url":"h/chartrepo/lib/charts/web-0.1.0.tgz"}],"repository":{"name":"web","namespace":"lib"}}}`,
			want: Result{Skipped: []Skip{{Ref: "lib/web:0.1.0", Reason: "helm chart, not a container image"}}},
		},
		{
			name: "a scanning event is skipped",
			body: `{"type":"scanningCompleted","occur_at":1,"event_data":{"resources":[{"tag":"v1"}],"repository":{"repo_full_name":"a/b"}}}`,
			want: Result{Skipped: []Skip{{Ref: "a/b:v1", Reason: "scan event, not a push"}}},
		},
		{
			name: "a push whose tag is the digest is a push by digest",
			body: `{"type":"pushImage","occur_at":1,"event_data":{"resources":[{"tag":"sha256:a36b9e68613d07eec4ef553da84d0012a5ca5ae4a830cf825bb68b929475c869","digest":"sha256:a36b9e68613d07eec4ef553da84d0012a5ca5ae4a830cf825bb68b929475c869"}],"repository":{"repo_full_name":"a/b"}}}`,
			want: Result{Skipped: []Skip{{Ref: "a/b@sha256:a36b9e68613d07eec4ef553da84d0012a5ca5ae4a830cf825bb68b929475c869", Reason: "push by digest without a tag"}}},
		},
		{
			name: "a push without resources is skipped",
			body: `{"type":"pushImage","event_data":{"repository":{"repo_full_name":"a/b"}}}`,
			want: Result{Skipped: []Skip{{Ref: "a/b", Reason: "push event without resources"}}},
		},
		{
			name: "an unknown event type is skipped with its name",
			body: `{"type":"quotaExceed","event_data":{"resources":[{"tag":"v1"}],"repository":{"repo_full_name":"a/b"}}}`,
			want: Result{Skipped: []Skip{{Ref: "a/b:v1", Reason: "harbor quotaExceed event, not a push"}}},
		},
		{name: "a body that is not JSON is an error", body: `type=pushImage`, wantErr: true},
		{name: "an object without type is an error", body: `{"event_data":{}}`, wantErr: true},
		{name: "resources of the wrong type are an error", body: `{"type":"pushImage","event_data":{"resources":{}}}`, wantErr: true},
	})
}

func FuzzHarborV1(f *testing.F) { regFuzz(f, "harbor-v1", nil) }

func BenchmarkHarborV1(b *testing.B) { regBench(b, "harbor-v1", "pushImage.json", nil) }
