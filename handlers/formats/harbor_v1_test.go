package formats

import "testing"

// TestHarborV1 runs the Harbor 1.x bodies through the "harbor-v1" name,
// an alias of the harbor decoder (TestHarborAliases shows they agree).
func TestHarborV1(t *testing.T) {
	runDecoder(t, "harbor-v1", []decodeCase{
		{
			name: "a 1.x pushImage is one push per resource with the host of its resource url",
			file: "pushImage.json",
			want: Result{Pushes: []Push{{
				Host: "harbor.sunvalley.com.cn", Repository: "library/centos", Tag: "7",
				Digest:   "sha256:a36b9e68613d07eec4ef553da84d0012a5ca5ae4a830cf825bb68b929475c869",
				PushedAt: mustTime(t, "2019-10-30T05:43:19Z"),
			}}},
		},
		{
			name: "the repository and tag of the event win over a disagreeing resource url",
			file: "pushImage-keel.json",
			want: Result{Pushes: []Push{{
				Host: "quay.io", Repository: "mynamespace/repository", Tag: "2.1.6",
				Digest:   "sha256:b4758aaed11c155a476b9857e1178f157759c99cb04c907a04993f5481eff848",
				PushedAt: mustTime(t, "2020-02-25T14:24:48Z"),
			}}},
		},
		{
			name: "the 2.x default format with PUSH_ARTIFACT is understood too",
			file: "PUSH_ARTIFACT-default.json",
			want: Result{Pushes: []Push{{
				Host: "hub.harbor.com", Repository: "test-webhook/debian", Tag: "latest",
				Digest:   "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8",
				PushedAt: mustTime(t, "2020-04-15T03:45:08Z"),
			}}},
		},
		{
			name: "two tags of one push are two pushes",
			body: `{"type":"pushImage","occur_at":1,"event_data":{"resources":[{"tag":"a","digest":"d1"},{"tag":"b","digest":"d1"}],"repository":{"repo_full_name":"p/app"}}}`,
			want: Result{Pushes: []Push{
				{Repository: "p/app", Tag: "a", Digest: "d1", PushedAt: mustTime(t, "1970-01-01T00:00:01Z")},
				{Repository: "p/app", Tag: "b", Digest: "d1", PushedAt: mustTime(t, "1970-01-01T00:00:01Z")},
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
			name: "a quota event is skipped",
			body: `{"type":"quotaExceed","event_data":{"resources":[{"tag":"v1"}],"repository":{"repo_full_name":"a/b"}}}`,
			want: Result{Skipped: []Skip{{Ref: "a/b:v1", Reason: "quota event, not a push"}}},
		},
		{
			name: "an unknown event type is skipped with its name",
			body: `{"type":"testEndpoint","event_data":{"resources":[{"tag":"v1"}],"repository":{"repo_full_name":"a/b"}}}`,
			want: Result{Skipped: []Skip{{Ref: "a/b:v1", Reason: `unsupported event type "testEndpoint"`}}},
		},
		{
			// The decoder harbor-v1 had before it became an alias of harbor
			// split resource_url at its last colon, giving the repository
			// "aaa/cnab_copy:sha256" here.
			name: "a Harbor 2.0 repo:sha256:<hex> resource_url without a repository object gives the repository and the digest",
			body: `{"type":"PUSH_ARTIFACT","occur_at":1587709772,"event_data":{"resources":[{"tag":"","resource_url":"10.92.103.227/aaa/cnab_copy:sha256:2fb9a3ed677bbd9e5eaea133260c5d4d6f61d03c7d9cb5e25d3d7762303e9bc5"}]}}`,
			want: Result{Skipped: []Skip{{Ref: "aaa/cnab_copy@sha256:2fb9a3ed677bbd9e5eaea133260c5d4d6f61d03c7d9cb5e25d3d7762303e9bc5", Reason: "push by digest without a tag"}}},
		},
		{name: "a body that is not JSON is an error", body: `type=pushImage`, wantErr: errIs(ErrMalformed)},
		{name: "an object without type is an error", body: `{"event_data":{}}`, wantErr: errIs(ErrMalformed)},
		{name: "resources of the wrong type are an error", body: `{"type":"pushImage","event_data":{"resources":{}}}`, wantErr: errIs(ErrMalformed)},
	})
}

func FuzzHarborV1(f *testing.F) { fuzzDecoder(f, "harbor-v1", fuzzSeeds{}) }

func BenchmarkHarborV1(b *testing.B) { benchDecoder(b, "harbor-v1", "pushImage.json", nil) }
