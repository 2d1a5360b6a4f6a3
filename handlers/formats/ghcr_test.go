package formats

import (
	"net/http"
	"testing"
)

func ghEvent(event string) http.Header {
	h := http.Header{}
	if event != "" {
		h.Set("X-GitHub-Event", event)
	}
	h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	return h
}

func TestGHCR(t *testing.T) {
	const digest = "sha256:7d3848ba2f2e7f69bebb4b576e5fad0379b64a0b1512aee6ad0ec9e7c6319fed"
	runDecoder(t, "ghcr", []decodeCase{
		{
			name:   "a tagged ghcr container version is one push with its digest and media type",
			file:   "package-ghcr-tagged.json",
			header: ghEvent("package_v2"),
			want: Result{Pushes: []Push{{
				Host: "ghcr.io", Repository: "utaitebox/utaitebox-server", Tag: "3.2.1", Digest: digest,
				MediaType: "application/vnd.docker.distribution.manifest.v2+json",
				EventID:   "72d3162e-cc78-11e3-81ab-4c9367dc0958",
			}}},
		},
		{
			name:   "a legacy docker.pkg.github.com package takes its tag from the version",
			file:   "registry_package-docker-legacy.json",
			header: ghEvent("registry_package"),
			want: Result{Pushes: []Push{{
				Host: "docker.pkg.github.com", Repository: "dingggu/utaitebox/server", Tag: "1.2.3",
				PushedAt: mustTime(t, "2019-11-01T05:30:31Z"),
				EventID:  "72d3162e-cc78-11e3-81ab-4c9367dc0958",
			}}},
		},
		{
			name:   "an untagged container version is a push by digest",
			file:   "registry_package-published-untagged.json",
			header: ghEvent("registry_package"),
			want: Result{Skipped: []Skip{{
				Ref:    "codertocat/hello-world@sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498",
				Reason: "push by digest without a tag",
			}}},
		},
		{
			name:   "an npm package is skipped",
			file:   "package-published-npm.json",
			header: ghEvent("package"),
			want:   Result{Skipped: []Skip{{Ref: "hello-world-npm", Reason: "npm package, not a container image"}}},
		},
		{
			name:   "every tag of the version's tag list is a push",
			header: ghEvent("package"),
			body: `{"action":"published","package":{"name":"App","namespace":"Acme","package_type":"CONTAINER",
				"package_version":{"name":"` + digest + `","metadata":{"package_type":"container","container":{"tags":["v1","latest"]}},
				"container_metadata":{"tag":{"name":"v1","digest":"` + digest + `"}}}}}`,
			want: Result{
				Pushes: []Push{
					{Host: "ghcr.io", Repository: "acme/app", Tag: "v1", Digest: digest, EventID: "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
					{Host: "ghcr.io", Repository: "acme/app", Tag: "latest", Digest: digest, EventID: "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
				},
				Skipped: []Skip{{Ref: "acme/app:v1@" + digest, Reason: "same tag reported again in this body"}},
			},
		},
		{
			name:   "a helm chart pushed to ghcr is skipped by its config media type",
			header: ghEvent("package"),
			body: `{"action":"published","package":{"name":"chart","namespace":"acme","package_type":"CONTAINER",
				"package_version":{"name":"` + digest + `","container_metadata":{"tag":{"name":"0.1.0"},
				"manifest":{"media_type":"application/vnd.oci.image.manifest.v1+json","config":{"media_type":"application/vnd.cncf.helm.config.v1+json"}}}}}}`,
			want: Result{Skipped: []Skip{{Ref: "acme/chart:0.1.0@" + digest, Reason: "helm chart, not a container image"}}},
		},
		{
			name:   "a cosign signature tag is skipped",
			header: ghEvent("package"),
			body: `{"action":"published","package":{"name":"app","namespace":"acme","package_type":"CONTAINER",
				"package_version":{"name":"` + digest + `","container_metadata":{"tag":{"name":"sha256-7d3848ba2f2e7f69bebb4b576e5fad0379b64a0b1512aee6ad0ec9e7c6319fed.sig"}}}}}`,
			want: Result{Skipped: []Skip{{
				Ref:    "acme/app:sha256-7d3848ba2f2e7f69bebb4b576e5fad0379b64a0b1512aee6ad0ec9e7c6319fed.sig@" + digest,
				Reason: "cosign signature tag, not a container image",
			}}},
		},
		{
			name:   "a deleted package version is skipped",
			header: ghEvent("package"),
			body:   `{"action":"deleted","package":{"name":"app","package_type":"CONTAINER"}}`,
			want:   Result{Skipped: []Skip{{Ref: "app", Reason: "delete event, not a push"}}},
		},
		{
			name:   "a ping is skipped",
			header: ghEvent("ping"),
			body:   `{"zen":"Keep it logically awesome.","hook_id":12345678}`,
			want:   Result{Skipped: []Skip{{Reason: "github ping event"}}},
		},
		{
			name: "a ping without the event header is recognised by its zen",
			body: `{"zen":"Design for failure.","hook_id":1}`,
			want: Result{Skipped: []Skip{{Reason: "github ping event"}}},
		},
		{
			name:   "another github event sent to this receiver is skipped",
			header: ghEvent("push"),
			body:   `{"ref":"refs/heads/main"}`,
			want:   Result{Skipped: []Skip{{Reason: "github push event, not a package event"}}},
		},
		{name: "a body that is not JSON is an error", body: `action=published`, wantErr: errIs(ErrMalformed)},
		{name: "an object with no package is an error", header: ghEvent("package"), body: `{"action":"published"}`, wantErr: errIs(ErrMalformed)},
		{name: "a package without a name is an error", body: `{"action":"published","package":{"package_type":"container"}}`, wantErr: errIs(ErrMalformed)},
		{name: "a container package without a version is an error", body: `{"action":"published","package":{"name":"a","package_type":"container"}}`, wantErr: errIs(ErrMalformed)},
	})
}

func FuzzGHCR(f *testing.F) {
	fuzzDecoder(f, "ghcr", fuzzSeeds{header: ghEvent, headerValues: []string{"package", "registry_package", ""}})
}

func BenchmarkGHCR(b *testing.B) {
	benchDecoder(b, "ghcr", "package-ghcr-tagged.json", ghEvent("package"))
}
