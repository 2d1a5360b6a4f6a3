package formats

import "testing"

func TestQuay(t *testing.T) {
	runDecoder(t, "quay", []decodeCase{
		{
			name: "a push with updated_tags as a list is one push per tag",
			file: "repo_push-list.json",
			want: Result{Pushes: []Push{{Host: "quay.io", Repository: "dgangaia/test", Tag: "latest"}}},
		},
		{
			name: "a push with updated_tags as a map uses the keys, not the image ids",
			file: "repo_push-map.json",
			want: Result{Pushes: []Push{{Host: "quay.io", Repository: "devtable/ubuntu", Tag: "latest"}}},
		},
		{
			name: "a self-hosted quay push with two tags is two pushes on its own host",
			file: "repo_push-sample.json",
			want: Result{Pushes: []Push{
				{Host: "quay.example.com", Repository: "acme/api", Tag: "latest"},
				{Host: "quay.example.com", Repository: "acme/api", Tag: "foo"},
			}},
		},
		{
			name: "map keys come out sorted whatever the map order",
			body: `{"repository":"a/b","docker_url":"quay.io/a/b","updated_tags":{"v2":"x","v10":"y","latest":"z"}}`,
			want: Result{Pushes: []Push{
				{Host: "quay.io", Repository: "a/b", Tag: "latest"},
				{Host: "quay.io", Repository: "a/b", Tag: "v10"},
				{Host: "quay.io", Repository: "a/b", Tag: "v2"},
			}},
		},
		{
			name: "a build notification is skipped",
			file: "build_queued.json",
			want: Result{Skipped: []Skip{{Ref: "dgangaia/test", Reason: "quay build notification, not a push"}}},
		},
		{
			name: "a vulnerability notification is skipped",
			file: "vulnerability_found.json",
			want: Result{Skipped: []Skip{{Ref: "acme/api", Reason: "quay vulnerability notification, not a push"}}},
		},
		{
			name: "a mirror notification is skipped",
			body: `{"repository":"a/b","namespace":"a","name":"b","message":"TEST NOTIFICATION"}`,
			want: Result{Skipped: []Skip{{Ref: "a/b", Reason: "quay repository mirror notification, not a push"}}},
		},
		{
			name: "a push with no updated tags is skipped",
			body: `{"repository":"a/b","updated_tags":[]}`,
			want: Result{Skipped: []Skip{{Ref: "a/b", Reason: "repository push without updated tags"}}},
		},
		{
			name: "namespace and name stand in for a missing repository",
			body: `{"namespace":"a","name":"b","docker_url":"quay.io/a/b","updated_tags":["1"]}`,
			want: Result{Pushes: []Push{{Host: "quay.io", Repository: "a/b", Tag: "1"}}},
		},
		{
			name: "a cosign signature among the updated tags is skipped, the image tag kept",
			body: `{"repository":"a/b","updated_tags":["v1","sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig"]}`,
			want: Result{
				Pushes: []Push{{Repository: "a/b", Tag: "v1"}},
				Skipped: []Skip{{
					Ref:    "a/b:sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig",
					Reason: "cosign signature tag, not a container image",
				}},
			},
		},
		{name: "a body that is not JSON is an error", body: `<xml/>`, wantErr: errIs(ErrMalformed)},
		{name: "an object naming no repository is an error", body: `{"updated_tags":["latest"]}`, wantErr: errIs(ErrMalformed)},
		{name: "updated_tags of another type is an error", body: `{"repository":"a/b","updated_tags":"latest"}`, wantErr: errIs(ErrMalformed)},
		{name: "a list of non-strings is an error", body: `{"repository":"a/b","updated_tags":[1,2]}`, wantErr: errIs(ErrMalformed)},
	})
}

func FuzzQuay(f *testing.F) { fuzzDecoder(f, "quay", fuzzSeeds{}) }

func BenchmarkQuay(b *testing.B) { benchDecoder(b, "quay", "repo_push-sample.json", nil) }
