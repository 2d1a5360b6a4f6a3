package sources

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// rawManifest is a manifest put as its bytes, as oras pushes an artifact.
type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.b, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// pushArtifact puts an OCI image manifest whose config and artifactType
// say what it is, under repoTag, with one layer of layerType.
func pushArtifact(t *testing.T, r *rig, repoTag, artifactType, configType, layerType string) {
	t.Helper()
	auth := remote.WithAuth(&authn.Basic{Username: regUser, Password: regPass})
	ref, err := name.NewTag(r.reg.host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	cfg := static.NewLayer([]byte("{}"), types.MediaType(configType))
	layer := static.NewLayer([]byte(`{"spdxVersion":"SPDX-2.3"}`), types.MediaType(layerType))
	desc := func(l v1.Layer) map[string]any {
		d, _ := l.Digest()
		s, _ := l.Size()
		mt, _ := l.MediaType()
		return map[string]any{"mediaType": mt, "digest": d.String(), "size": s}
	}
	for _, l := range []v1.Layer{cfg, layer} {
		if err := remote.WriteLayer(ref.Context(), l, auth); err != nil {
			t.Fatal(err)
		}
	}
	m := map[string]any{"schemaVersion": 2, "mediaType": types.OCIManifestSchema1,
		"config": desc(cfg), "layers": []any{desc(layer)}}
	if artifactType != "" {
		m["artifactType"] = artifactType
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(ref, rawManifest{b, types.OCIManifestSchema1}, auth); err != nil {
		t.Fatal(err)
	}
}

// TestPolledArtifactsAreSkippedAsWebhooksSkipThem: a HEAD gives only the
// manifest's media type, which an SBOM pushed with oras or a Helm chart
// shares with an image; the poller reads a changed tag's manifest and
// skips them in the webhook's words, once, while the image beside them
// is a job.
func TestPolledArtifactsAreSkippedAsWebhooksSkipThem(t *testing.T) {
	r := newRig(t)
	img := r.reg.push(t, "team/app:1.0")
	pushArtifact(t, r, "team/app:1.0.sbom", "application/spdx+json", "application/vnd.oci.empty.v1+json", "application/spdx+json")
	pushArtifact(t, r, "team/chart:0.1.0", "", "application/vnd.cncf.helm.config.v1+json", "application/vnd.cncf.helm.chart.content.v1.tar+gzip")
	p := r.poller(t, r.source("poll"), nil)

	first := round(t, p, false)
	if got := images(first); !slices.Equal(got, []string{"team/app:1.0@" + img}) {
		t.Fatalf("jobs %v, want only the image", got)
	}
	wantSkipped(t, first, map[string]string{
		"team/app:1.0.sbom": "spdx sbom, not a container image",
		"team/chart:0.1.0":  "helm chart, not a container image",
	})
	before := r.reg.requests.Load()
	second := round(t, p, false)
	if len(second.Jobs) != 0 || len(second.Skipped) != 0 {
		t.Fatalf("an unchanged registry: jobs %v, skipped %v", second.Jobs, second.Skipped)
	}
	// Unchanged tags cost their HEAD only: no manifest is read again.
	if got, most := r.reg.requests.Load()-before, int64(2*3+6); got > most {
		t.Errorf("an unchanged round made %d requests, want at most %d (no manifest GET)", got, most)
	}
}

// wantSkipped checks that each ref (repository:tag, no digest) was
// skipped by rep with a reason that starts as want says.
func wantSkipped(t *testing.T, rep Report, want map[string]string) {
	t.Helper()
	reasons := map[string]string{}
	for _, s := range rep.Skipped {
		reasons[s.Ref[:strings.Index(s.Ref, "@")]] = s.Reason
	}
	for ref, w := range want {
		if !strings.HasPrefix(reasons[ref], w) {
			t.Errorf("%s skipped with %q, want %q (skipped: %+v)", ref, reasons[ref], w, rep.Skipped)
		}
	}
}
