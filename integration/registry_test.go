package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// distributionVersion is the CNCF distribution release the registry image
// is built from (https://github.com/distribution/distribution/releases).
// The golden envelopes under testdata/ were captured from it.
const distributionVersion = "v3.1.2"

var registryImage = &goImage{
	tag:      "scan-bridge/registry:local",
	override: "SCANBRIDGE_REGISTRY_IMAGE",
	pkg:      "github.com/distribution/distribution/v3/cmd/registry",
	module:   "github.com/distribution/distribution/v3",
	version:  distributionVersion,
	binary:   "registry",
	// The official image's entrypoint accepts the same arguments.
	cmd: []string{"serve", "/etc/distribution/config.yml"},
}

var update = flag.Bool("update", false, "rewrite the golden envelopes under testdata/ from a fresh capture")

// eventsMediaType is the Content-Type of distribution's notifications.
const eventsMediaType = "application/vnd.docker.distribution.events.v2+json"

// notifyEndpoint is where a registry sends its notifications.
type notifyEndpoint struct {
	// URL must be reachable from the host's loopback: the registry runs on
	// the host network.
	URL string
	// Token is sent as "Authorization: Bearer <Token>", as a bridge
	// receiver expects it.
	Token string
}

// startRegistry runs a distribution registry on the host network,
// listening on 127.0.0.1 only, with in-memory storage, deletes enabled and
// one notification endpoint configured as docs/docker.md recommends for a
// scan bridge. It returns the registry's host:port.
//
// The host network keeps every byte on the loopback: the registry reaches a
// receiver on the host at 127.0.0.1 without the bridge gateway or
// testcontainers' port-forwarding container (which cannot be pulled).
func startRegistry(t *testing.T, notify notifyEndpoint) string {
	t.Helper()
	image := registryImage.ensure(t)
	port := freeLoopbackPort(t)
	config := registryConfig(port, notify)
	c, err := testcontainers.Run(t.Context(), image,
		testcontainers.WithCmd("serve", "/etc/distribution/config.yml"),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader:            strings.NewReader(config),
			ContainerFilePath: "/etc/distribution/config.yml",
			FileMode:          0o644,
		}),
		// No trace exporter: distribution would otherwise try OTLP on
		// the loopback at every span.
		testcontainers.WithEnv(map[string]string{"OTEL_TRACES_EXPORTER": "none"}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
		}),
		testcontainers.WithWaitStrategy(
			wait.ForHTTP("/v2/").WithPort(strconv.Itoa(port)+"/tcp").WithStartupTimeout(time.Minute),
		),
	)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("start registry (%s): %v", image, err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// registryConfig is the registry's configuration file. Options:
// https://distribution.github.io/distribution/about/configuration/
func registryConfig(port int, notify notifyEndpoint) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: true
storage:
  inmemory: {}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:%d
notifications:
  events:
    # lists config and layers (or an index's manifests) in target.references:
    # the only way an envelope tells an image from another OCI artifact
    includereferences: true
  endpoints:
    - name: scan-bridge
      url: %q
      headers:
        Authorization: [%q]
      timeout: 2s
      # small, so a test that makes the receiver fail sees retries quickly
      threshold: 2
      backoff: 200ms
      ignore:
        # blob pushes; pulls (GET and HEAD) and cross-repository mounts
        mediatypes: [application/octet-stream]
        actions: [pull, mount]
`, port, notify.URL, "Bearer "+notify.Token)
}

// notification is one POST the receiver got.
type notification struct {
	header http.Header
	body   []byte
	// envelope is the decoded body; err says why it did not decode.
	envelope distEnvelope
	err      error
}

// distEnvelope and distEvent hold what the test asserts of distribution's
// notification format (notifications/event.go in the distribution
// repository; docs: https://distribution.github.io/distribution/about/notifications/).
type distEnvelope struct {
	Events []distEvent `json:"events"`
}

type distEvent struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Target struct {
		MediaType  string `json:"mediaType"`
		Digest     string `json:"digest"`
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
		References []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"references"`
	} `json:"target"`
	Request struct {
		Method string `json:"method"`
	} `json:"request"`
}

// receiver is a loopback HTTP endpoint that records every notification and
// answers 200, as a bridge does for what it accepts or ignores.
type receiver struct {
	URL string
	got chan notification
}

// startReceiver starts the capture endpoint; it closes with the test.
func startReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{got: make(chan notification, 64)}
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := notification{header: req.Header.Clone()}
		n.body, n.err = io.ReadAll(req.Body)
		if n.err == nil {
			n.err = json.Unmarshal(n.body, &n.envelope)
		}
		select {
		case r.got <- n:
		case <-done: // the test is over; nobody reads any more
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: unblocks handlers before Close waits for them
	r.URL = srv.URL + "/hooks/distribution"
	return r
}

// wantEvent is what one event must say. golden names the file under
// testdata/ that keeps this event's envelope as a decoder fixture.
type wantEvent struct {
	action, repository, tag, digest, mediaType, method string
	references                                         []string // media types, in order
	golden                                             string
}

// key orders the events of one step: the registry sends in the order it
// handled requests, but crane pushes an index's manifests concurrently.
func (w wantEvent) key() string {
	return w.action + " " + w.repository + " " + w.tag + " " + w.digest
}

func (w wantEvent) String() string {
	return fmt.Sprintf("%s %s tag=%q digest=%s mediaType=%q method=%s references=%v",
		w.action, w.repository, w.tag, w.digest, w.mediaType, w.method, w.references)
}

// summary is what the test compares of a captured event.
func summary(e distEvent) wantEvent {
	w := wantEvent{
		action: e.Action, repository: e.Target.Repository, tag: e.Target.Tag,
		digest: e.Target.Digest, mediaType: e.Target.MediaType, method: e.Request.Method,
	}
	for _, r := range e.Target.References {
		w.references = append(w.references, r.MediaType)
	}
	return w
}

// TestRegistryNotifications pushes what users push to a real distribution
// registry and checks each notification it sends: which operations produce
// one, what the event says, the headers. The envelopes it keeps under
// testdata/ are fixtures for the distribution decoder; run with -update to
// capture them anew (after a distributionVersion change).
func TestRegistryNotifications(t *testing.T) {
	t.Parallel()
	rcv := startReceiver(t)
	token := randomToken(t)
	host := startRegistry(t, notifyEndpoint{URL: rcv.URL, Token: token})

	opts := []crane.Option{crane.WithContext(t.Context()), crane.WithAuth(authn.Anonymous), crane.Insecure}
	ref := func(s string) string { return host + "/" + s }
	const (
		dockerManifest = string(types.DockerManifestSchema2)
		ociManifest    = string(types.OCIManifestSchema1)
		ociIndex       = string(types.OCIImageIndex)
		spdx           = "application/spdx+json"
		emptyConfig    = "application/vnd.oci.empty.v1+json"
	)
	dockerImageRefs := []string{string(types.DockerConfigJSON), string(types.DockerLayer)}
	ociImageRefs := []string{string(types.OCIConfigJSON), string(types.OCILayer)}

	app := randomImage(t, false)
	appDigest := digestOf(t, app)
	byDigest := randomImage(t, false)
	byDigestDigest := digestOf(t, byDigest)

	steps := []struct {
		name string
		do   func(t *testing.T) []wantEvent
	}{
		{
			name: "a Docker schema2 image pushed with a tag is one manifest push with that tag",
			do: func(t *testing.T) []wantEvent {
				if err := crane.Push(app, ref("team/app:1.0"), opts...); err != nil {
					t.Fatalf("push: %v", err)
				}
				return []wantEvent{{action: "push", repository: "team/app", tag: "1.0", digest: appDigest,
					mediaType: dockerManifest, method: http.MethodPut, references: dockerImageRefs,
					golden: "push-docker-schema2-tag.json"}}
			},
		},
		{
			name: "the same digest tagged again is a second push with the new tag",
			do: func(t *testing.T) []wantEvent {
				if err := crane.Tag(ref("team/app:1.0"), "1.1", opts...); err != nil {
					t.Fatalf("tag: %v", err)
				}
				return []wantEvent{{action: "push", repository: "team/app", tag: "1.1", digest: appDigest,
					mediaType: dockerManifest, method: http.MethodPut, references: dockerImageRefs}}
			},
		},
		{
			name: "a multi-arch OCI index is one push per platform manifest by digest and one push of the tagged index",
			do: func(t *testing.T) []wantEvent {
				amd64, arm64 := randomImage(t, true), randomImage(t, true)
				idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
					mutate.IndexAddendum{Add: amd64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
					mutate.IndexAddendum{Add: arm64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
				)
				dst, err := name.ParseReference(ref("team/multi:2.0"), name.Insecure)
				if err != nil {
					t.Fatal(err)
				}
				if err := remote.WriteIndex(dst, idx, crane.GetOptions(opts...).Remote...); err != nil {
					t.Fatalf("push index: %v", err)
				}
				idxDigest, err := idx.Digest()
				if err != nil {
					t.Fatal(err)
				}
				return []wantEvent{
					{action: "push", repository: "team/multi", digest: digestOf(t, amd64), mediaType: ociManifest,
						method: http.MethodPut, references: ociImageRefs, golden: "push-oci-manifest-by-digest-in-index.json"},
					{action: "push", repository: "team/multi", digest: digestOf(t, arm64), mediaType: ociManifest,
						method: http.MethodPut, references: ociImageRefs},
					{action: "push", repository: "team/multi", tag: "2.0", digest: idxDigest.String(), mediaType: ociIndex,
						method: http.MethodPut, references: []string{ociManifest, ociManifest}, golden: "push-oci-index-tag.json"},
				}
			},
		},
		{
			name: "an OCI artifact that is no image (empty config, SPDX layer) is a push that only its references tell apart",
			do: func(t *testing.T) []wantEvent {
				digest := pushArtifact(t, host, "team/app", "1.0.sbom", opts)
				return []wantEvent{{action: "push", repository: "team/app", tag: "1.0.sbom", digest: digest,
					mediaType: ociManifest, method: http.MethodPut, references: []string{emptyConfig, spdx},
					golden: "push-oci-artifact-spdx.json"}}
			},
		},
		{
			name: "an image pushed by digest only is a push without a tag",
			do: func(t *testing.T) []wantEvent {
				if err := crane.Push(byDigest, ref("team/app@"+byDigestDigest), opts...); err != nil {
					t.Fatalf("push by digest: %v", err)
				}
				return []wantEvent{{action: "push", repository: "team/app", digest: byDigestDigest,
					mediaType: dockerManifest, method: http.MethodPut, references: dockerImageRefs,
					golden: "push-docker-schema2-by-digest.json"}}
			},
		},
		{
			name: "a manifest deleted by digest is a delete with the digest and no media type",
			do: func(t *testing.T) []wantEvent {
				if err := crane.Delete(ref("team/app@"+byDigestDigest), opts...); err != nil {
					t.Fatalf("delete manifest: %v", err)
				}
				return []wantEvent{{action: "delete", repository: "team/app", digest: byDigestDigest,
					method: http.MethodDelete, golden: "delete-manifest.json"}}
			},
		},
		{
			name: "a tag deleted is a delete with the tag and neither digest nor media type",
			do: func(t *testing.T) []wantEvent {
				if err := crane.Delete(ref("team/app:1.1"), opts...); err != nil {
					t.Fatalf("delete tag: %v", err)
				}
				return []wantEvent{{action: "delete", repository: "team/app", tag: "1.1",
					method: http.MethodDelete, golden: "delete-tag.json"}}
			},
		},
	}

	// Every push returns only after the registry queued its events, and
	// the registry sends them one at a time in that order: all of step k's
	// events arrive before step k+1's.
	wants := make([][]wantEvent, len(steps))
	total := 0
	for i, s := range steps {
		wants[i] = s.do(t)
		total += len(wants[i])
	}

	ctx := ctxDeadline(t, time.Minute)
	type captured struct {
		event wantEvent
		n     notification
	}
	var got []captured
	for len(got) < total {
		select {
		case n := <-rcv.got:
			if n.err != nil {
				t.Fatalf("notification %d is not an envelope: %v\n%s", len(got)+1, n.err, n.body)
			}
			checkHeaders(t, n.header, token)
			// v3.1.2 sends one event per request; a newer version that
			// batches changes the fixtures, so this is worth knowing.
			if len(n.envelope.Events) != 1 {
				t.Errorf("envelope %d holds %d events, want 1 (distribution %s sends one per request)",
					len(got)+1, len(n.envelope.Events), distributionVersion)
			}
			for _, e := range n.envelope.Events {
				got = append(got, captured{event: summary(e), n: n})
			}
		case <-ctx.Done():
			var seen []string
			for _, c := range got {
				seen = append(seen, c.event.String())
			}
			t.Fatalf("got %d of %d notifications before the deadline:\n%s", len(got), total, strings.Join(seen, "\n"))
		}
	}

	goldens := map[string][]byte{}
	next := 0
	for i, s := range steps {
		want := slices.Clone(wants[i])
		gotStep := slices.Clone(got[next : next+len(want)])
		next += len(want)
		slices.SortFunc(want, func(a, b wantEvent) int { return strings.Compare(a.key(), b.key()) })
		slices.SortFunc(gotStep, func(a, b captured) int { return strings.Compare(a.event.key(), b.event.key()) })
		for j := range want {
			g := gotStep[j].event
			g.golden = want[j].golden
			if g.String() != want[j].String() {
				t.Errorf("%s:\n got  %s\n want %s", s.name, g, want[j])
				continue
			}
			if want[j].golden != "" {
				goldens[want[j].golden] = gotStep[j].n.body
			}
		}
	}
	if t.Failed() {
		return
	}
	checkGoldens(t, goldens)
}

// checkHeaders checks what every notification request carries.
func checkHeaders(t *testing.T, h http.Header, token string) {
	t.Helper()
	if got, want := h.Get("Authorization"), "Bearer "+token; got != want {
		t.Errorf("Authorization = %q, want %q (the configured static header)", got, want)
	}
	if got := h.Get("Content-Type"); got != eventsMediaType {
		t.Errorf("Content-Type = %q, want %q", got, eventsMediaType)
	}
}

// goldenDir holds the captured envelopes, one folder per registry version.
var goldenDir = filepath.Join("testdata", "distribution-"+distributionVersion)

// checkGoldens writes the captured envelopes with -update. Otherwise it
// checks that each kept fixture still has the shape (every JSON path and
// value type) of a fresh capture: ids, digests and times differ per run,
// the fields a decoder reads must not.
func checkGoldens(t *testing.T, captured map[string][]byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, body := range captured {
			// The bytes as sent (distribution indents with three spaces).
			if err := os.WriteFile(filepath.Join(goldenDir, name), body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("wrote %d envelopes to %s", len(captured), goldenDir)
		return
	}
	for name, body := range captured {
		kept, err := os.ReadFile(filepath.Join(goldenDir, name))
		if err != nil {
			t.Errorf("fixture %s: %v (run go test ./integration -run TestRegistryNotifications -update)", name, err)
			continue
		}
		gotShape, err := jsonShape(body)
		if err != nil {
			t.Fatalf("captured %s: %v", name, err)
		}
		keptShape, err := jsonShape(kept)
		if err != nil {
			t.Fatalf("fixture %s: %v", name, err)
		}
		if !slices.Equal(gotShape, keptShape) {
			t.Errorf("fixture %s no longer has the shape distribution %s sends:\n got  %v\n kept %v\n(refresh with -update)",
				name, distributionVersion, gotShape, keptShape)
		}
	}
}

// jsonShape lists every path of a JSON document with its value type, array
// indexes folded ("events[].target.tag string"), sorted and unique.
func jsonShape(b []byte) ([]string, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	var out []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			out = append(out, path+" object")
			for k, child := range x {
				walk(path+"."+k, child)
			}
		case []any:
			out = append(out, path+" array")
			for _, child := range x {
				walk(path+"[]", child)
			}
		case string:
			out = append(out, path+" string")
		case float64:
			out = append(out, path+" number")
		case bool:
			out = append(out, path+" bool")
		case nil:
			out = append(out, path+" null")
		}
	}
	walk("", v)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// randomImage is a one-layer image of random content: Docker schema2 media
// types (as `docker push` sends), or OCI ones.
func randomImage(t *testing.T, oci bool) v1.Image {
	t.Helper()
	if !oci {
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	layer, err := random.Layer(512, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// rawManifest lets remote.Put push a hand-written manifest.
type rawManifest struct {
	body      []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.body, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// pushArtifact pushes an SBOM the way `oras push` does: an OCI image
// manifest with an artifactType, the empty config and one SPDX layer
// (https://github.com/opencontainers/image-spec/blob/v1.1.0/manifest.md#guidelines-for-artifact-usage).
// It returns the manifest digest.
func pushArtifact(t *testing.T, host, repository, tag string, opts []crane.Option) string {
	t.Helper()
	const emptyJSON = "{}"
	config := static.NewLayer([]byte(emptyJSON), "application/vnd.oci.empty.v1+json")
	sbom := static.NewLayer([]byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app","packages":[]}`), "application/spdx+json")
	repo, err := name.NewRepository(host+"/"+repository, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	remoteOpts := crane.GetOptions(opts...).Remote
	for _, blob := range []v1.Layer{config, sbom} {
		if err := remote.WriteLayer(repo, blob, remoteOpts...); err != nil {
			t.Fatalf("push artifact blob: %v", err)
		}
	}
	descriptor := func(l v1.Layer) map[string]any {
		d, _ := l.Digest()
		size, _ := l.Size()
		mt, _ := l.MediaType()
		return map[string]any{"mediaType": mt, "digest": d.String(), "size": size}
	}
	cfg := descriptor(config)
	cfg["data"] = "e30=" // base64 of "{}", as the image-spec suggests for the empty descriptor
	layer := descriptor(sbom)
	layer["annotations"] = map[string]string{"org.opencontainers.image.title": "sbom.spdx.json"}
	body, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIManifestSchema1,
		"artifactType":  "application/spdx+json",
		"config":        cfg,
		"layers":        []any{layer},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := rawManifest{body: body, mediaType: types.OCIManifestSchema1}
	dst := repo.Tag(tag)
	if err := remote.Put(dst, m, remoteOpts...); err != nil {
		t.Fatalf("push artifact manifest: %v", err)
	}
	d, _, err := v1.SHA256(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// randomToken is a bearer token for one test.
func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
