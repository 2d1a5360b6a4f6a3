package formats

import "testing"

func TestAliyunACR(t *testing.T) {
	runDecoder(t, "aliyun-acr", []decodeCase{
		{
			name: "the documented trigger payload is a push, its local time read as UTC+8",
			file: "push.json",
			want: Result{Pushes: []Push{{
				Repository: "namespace/repoTest", Tag: "latest",
				Digest:   "sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917",
				PushedAt: mustTime(t, "2016-11-29T04:25:46Z"),
			}}},
		},
		{
			name: "namespace and name stand in for a missing repo_full_name",
			body: `{"push_data":{"tag":"v1","digest":"abc"},"repository":{"namespace":"ns","name":"app"}}`,
			want: Result{Pushes: []Push{{Repository: "ns/app", Tag: "v1", Digest: "sha256:abc"}}},
		},
		{
			name: "a push without a tag is skipped",
			body: `{"push_data":{"digest":"sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917"},"repository":{"repo_full_name":"ns/app"}}`,
			want: Result{Skipped: []Skip{{Ref: "ns/app@sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917", Reason: "push by digest without a tag"}}},
		},
		{
			name: "a cosign attestation tag is skipped",
			body: `{"push_data":{"tag":"sha256-457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917.att"},"repository":{"repo_full_name":"ns/app"}}`,
			want: Result{Skipped: []Skip{{
				Ref:    "ns/app:sha256-457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917.att",
				Reason: "cosign attestation tag, not a container image",
			}}},
		},
		{name: "a body that is not JSON is an error", body: `push`, wantErr: errIs(ErrMalformed)},
		{name: "an object without push_data is an error", body: `{"repository":{"repo_full_name":"a/b"}}`, wantErr: errIs(ErrMalformed)},
		{name: "a repository without names is an error", body: `{"push_data":{"tag":"1"},"repository":{"region":"cn-hangzhou"}}`, wantErr: errIs(ErrMalformed)},
	})
}

func FuzzAliyunACR(f *testing.F) { fuzzDecoder(f, "aliyun-acr", fuzzSeeds{}) }

func BenchmarkAliyunACR(b *testing.B) { benchDecoder(b, "aliyun-acr", "push.json", nil) }
