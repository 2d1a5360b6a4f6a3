package formats

import "testing"

func TestDockerHub(t *testing.T) {
	runDecoder(t, "dockerhub", []decodeCase{
		{
			name: "the documented push payload is one push of its tag",
			file: "push.json",
			want: Result{Pushes: []Push{{
				Host: "docker.io", Repository: "svendowideit/testhook", Tag: "latest",
				PushedAt: mustTime(t, "2014-12-03T00:22:41Z"),
			}}},
		},
		{
			name: "a multi-arch push with an empty images list is still a push of its tag",
			file: "push-multiarch-empty-images.json",
			want: Result{Pushes: []Push{{
				Host: "docker.io", Repository: "fireflyiii/core", Tag: "develop",
				PushedAt: mustTime(t, "2021-09-17T09:46:10Z"),
			}}},
		},
		{
			name: "the legacy payload with exponent-form times decodes its time",
			file: "push-legacy-exponent-time.json",
			want: Result{Pushes: []Push{{
				Host: "docker.io", Repository: "svendowideit/testhook", Tag: "latest",
				PushedAt: mustTime(t, "2014-12-03T00:22:41Z"),
			}}},
		},
		{
			name: "an official image without namespace in repo_name lands in library",
			body: `{"push_data":{"tag":"1.27"},"repository":{"repo_name":"nginx","name":"nginx"}}`,
			want: Result{Pushes: []Push{{Host: "docker.io", Repository: "library/nginx", Tag: "1.27"}}},
		},
		{
			name: "namespace and name are used when repo_name is missing",
			body: `{"push_data":{"tag":"v2"},"repository":{"namespace":"acme","name":"api"}}`,
			want: Result{Pushes: []Push{{Host: "docker.io", Repository: "acme/api", Tag: "v2"}}},
		},
		{
			name: "a push without a tag is skipped",
			body: `{"push_data":{"tag":""},"repository":{"repo_name":"acme/api"}}`,
			want: Result{Skipped: []Skip{{Ref: "acme/api", Reason: "push by digest without a tag"}}},
		},
		{
			name: "a cosign signature tag is skipped",
			body: `{"push_data":{"tag":"sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig"},"repository":{"repo_name":"acme/api"}}`,
			want: Result{Skipped: []Skip{{
				Ref:    "acme/api:sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig",
				Reason: "cosign signature tag, not a container image",
			}}},
		},
		{
			name: "a pushed_at given as a string or garbage does not fail the push",
			body: `{"push_data":{"tag":"x","pushed_at":"soon"},"repository":{"repo_name":"acme/api"}}`,
			want: Result{Pushes: []Push{{Host: "docker.io", Repository: "acme/api", Tag: "x"}}},
		},
		{name: "a body that is not JSON is an error", body: `push_data=1`, wantErr: errIs(ErrMalformed)},
		{name: "a JSON array is an error", body: `[{"push_data":{}}]`, wantErr: errIs(ErrMalformed)},
		{name: "an object without push_data is not a docker hub payload", body: `{"repository":{"repo_name":"a/b"}}`, wantErr: errIs(ErrMalformed)},
		{name: "a repository without any name is an error", body: `{"push_data":{"tag":"x"},"repository":{}}`, wantErr: errIs(ErrMalformed)},
		{name: "a tag of the wrong JSON type is an error", body: `{"push_data":{"tag":7},"repository":{"repo_name":"a/b"}}`, wantErr: errIs(ErrMalformed)},
	})
}

func FuzzDockerHub(f *testing.F) { fuzzDecoder(f, "dockerhub", fuzzSeeds{}) }

func BenchmarkDockerHub(b *testing.B) { benchDecoder(b, "dockerhub", "push.json", nil) }
