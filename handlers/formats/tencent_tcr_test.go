package formats

import "testing"

// TestTencentTCR runs TCR's bodies through the "tencent-tcr" name, an
// alias of the harbor decoder (TestHarborAliases shows they agree).
func TestTencentTCR(t *testing.T) {
	runDecoder(t, "tencent-tcr", []decodeCase{
		{
			name: "the documented trigger payload is a push on the instance host",
			file: "pushImage.json",
			want: Result{Pushes: []Push{{
				Host: "xxx-bj.tencentcloudcr.com", Repository: "public/nginx", Tag: "v1.10.0",
				Digest:   "sha256:89a42c3ba15f09a3fbe39856bddacdf9e94cd03df7403cad4fc105xxxx268fc9",
				PushedAt: mustTime(t, "2020-05-10T10:30:05Z"),
			}}},
		},
		{
			name: "the harbor 2 event name is accepted",
			body: `{"type":"PUSH_ARTIFACT","occur_at":1589106605,"event_data":{"resources":[{"tag":"v2","resource_url":"t.tencentcloudcr.com/public/nginx:v2"}],"repository":{"repo_full_name":"public/nginx"}},"operator":"1"}`,
			want: Result{Pushes: []Push{{Host: "t.tencentcloudcr.com", Repository: "public/nginx", Tag: "v2", PushedAt: mustTime(t, "2020-05-10T10:30:05Z")}}},
		},
		{
			name: "a delete image trigger is skipped",
			body: `{"type":"deleteImage","occur_at":1589106605,"event_data":{"resources":[{"tag":"v1","resource_url":"t.tencentcloudcr.com/public/nginx:v1"}],"repository":{"repo_full_name":"public/nginx"}}}`,
			want: Result{Skipped: []Skip{{Ref: "public/nginx:v1", Reason: "delete event, not a push"}}},
		},
		{
			name: "a chart upload trigger is skipped",
			body: `{"type":"uploadChart","occur_at":1589106605,"event_data":{"resources":[{"tag":"1.0.0"}],"repository":{"repo_full_name":"charts/web"}}}`,
			want: Result{Skipped: []Skip{{Ref: "charts/web:1.0.0", Reason: "helm chart, not a container image"}}},
		},
		{name: "a body that is not JSON is an error", body: `]`, wantErr: errIs(ErrMalformed)},
		{name: "an object that is not a trigger payload is an error", body: `{"Response":{"RequestId":"x"}}`, wantErr: errIs(ErrMalformed)},
	})
}

func FuzzTencentTCR(f *testing.F) { fuzzDecoder(f, "tencent-tcr", fuzzSeeds{}) }

func BenchmarkTencentTCR(b *testing.B) { benchDecoder(b, "tencent-tcr", "pushImage.json", nil) }
