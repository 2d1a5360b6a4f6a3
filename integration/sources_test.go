package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/api/types/container"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// The sources tests (docs/sources.md): a bridge that polls a real
// distribution registry with a `registry` source, alone (notifications
// off) and as a sweep beside the registry's webhook. The bridges are host
// processes built from the tree (buildBridgeBinary), cheaper to start than
// the image; the registry and NATS are the containers the other tests use.

// sourceEvery is the sources' interval in these tests: the least
// schedule.every allows (sources/config.go).
const sourceEvery = 10 * time.Second

// callsEvery is TestSourceRegistryCalls's interval: room for a round of
// 1,000 new tags on a busy machine.
const callsEvery = 30 * time.Second

// sourcesBucket and the round key are where a bridge keeps a source's last
// round (sources/store.go: Bucket, "round.<source>"); the tests read them
// as an operator's `bridge sources list` does, from NATS.
const sourcesBucket = "scanbridge_sources"

// sourceRound is the part of a source's round record the tests read
// (sources.RoundRecord).
type sourceRound struct {
	Started      time.Time `json:"started"`
	Finished     time.Time `json:"finished"`
	Result       string    `json:"result"`
	Error        string    `json:"error"`
	Repositories int       `json:"repositories"`
	Tags         int       `json:"tags"`
	Enqueued     int       `json:"enqueued"`
	Found        int       `json:"found"`
	Baseline     time.Time `json:"baseline"`
}

func (r sourceRound) String() string {
	return fmt.Sprintf("round %s–%s %s %q: %d repositories, %d tags, %d enqueued, %d found",
		r.Started.Format("15:04:05.000"), r.Finished.Format("15:04:05.000"), r.Result, r.Error,
		r.Repositories, r.Tags, r.Enqueued, r.Found)
}

// waitSourceRound waits until source has finished a round that started
// after after (a bridge writes the record when a round ends) and returns
// it. A round started after a push has seen it: this is how the tests
// wait for "the next round" without sleeping an interval.
func waitSourceRound(ctx context.Context, js jetstream.JetStream, source string, after time.Time) (sourceRound, error) {
	var last sourceRound
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		kv, err := js.KeyValue(ctx, sourcesBucket)
		if err != nil {
			return false, nil // the bridge has not made it yet
		}
		e, err := kv.Get(ctx, "round."+source)
		if err != nil {
			return false, nil
		}
		var r sourceRound
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			return false, fmt.Errorf("round record of %s: %w", source, err)
		}
		last = r
		return r.Started.After(after), nil
	})
	if err != nil {
		return last, fmt.Errorf("no round of %s started after %s: %w (last: %v)", source, after.Format("15:04:05.000"), err, last)
	}
	return last, nil
}

// sourceJSON is BRIDGE_SOURCES for one registry source polling the
// registry at host over http every `every`; sweepFor, when not
// empty, makes it a sweep for that receiver.
func sourceJSON(name, host, sweepFor string, every time.Duration) string {
	s := map[string]any{
		"name":     name,
		"kind":     "registry",
		"url":      "http://" + host,
		"insecure": true,
		"schedule": map[string]any{"every": every.String()},
	}
	if sweepFor != "" {
		s["sweep_for"] = sweepFor
	}
	b, _ := json.Marshal([]any{s})
	return string(b)
}

// sourceRegistry is a distribution registry whose images survive a
// restart (file system storage in the container), so that a test can
// restart it as an operator does and lose what it had not yet notified:
// distribution keeps its outbound notifications in memory only, in a queue
// in front of a retrying sink that never drops an event
// (https://github.com/distribution/distribution/blob/v3.1.2/notifications/endpoint.go).
type sourceRegistry struct {
	c    testcontainers.Container
	port int
	// host is 127.0.0.1:port.
	host string
}

// startSourceRegistry runs the registry (registryImage) on the host
// network at 127.0.0.1:port, with notifications to notify, or none when
// notify is nil. It is removed with the test.
func startSourceRegistry(t *testing.T, port int, notify *notifyEndpoint) *sourceRegistry {
	t.Helper()
	image := registryImage.ensure(t)
	c, err := testcontainers.Run(t.Context(), image,
		testcontainers.WithCmd("serve", "/etc/distribution/config.yml"),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader:            strings.NewReader(sourceRegistryConfig(port, notify)),
			ContainerFilePath: "/etc/distribution/config.yml",
			FileMode:          0o644,
		}),
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
	return &sourceRegistry{c: c, port: port, host: "127.0.0.1:" + strconv.Itoa(port)}
}

// sourceRegistryConfig is registryConfig's registry with file system
// storage, and notifications only when notify is set.
func sourceRegistryConfig(port int, notify *notifyEndpoint) string {
	config := fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: 127.0.0.1:%d
`, port)
	if notify == nil {
		return config
	}
	return config + fmt.Sprintf(`notifications:
  events:
    includereferences: true
  endpoints:
    - name: scan-bridge
      url: %q
      headers:
        Authorization: [%q]
      timeout: 2s
      threshold: 2
      backoff: 200ms
      ignore:
        mediatypes: [application/octet-stream]
        actions: [pull, mount]
`, notify.URL, "Bearer "+notify.Token)
}

// restart stops the registry (SIGTERM) and starts it again with
// notifications to notify, as an operator who fixed its configuration
// does. Its images stay; the notifications it had queued are gone.
func (r *sourceRegistry) restart(t *testing.T, notify *notifyEndpoint) {
	t.Helper()
	ctx := ctxDeadline(t, time.Minute)
	if err := r.c.CopyToContainer(ctx, []byte(sourceRegistryConfig(r.port, notify)), "/etc/distribution/config.yml", 0o644); err != nil {
		t.Fatalf("write the registry's new configuration: %v", err)
	}
	grace := 5 * time.Second
	if err := r.c.Stop(ctx, &grace); err != nil {
		t.Fatalf("stop the registry: %v", err)
	}
	if err := r.c.Start(ctx); err != nil {
		t.Fatalf("start the registry again: %v", err)
	}
	if err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		resp, err := http.Get("http://" + r.host + "/v2/")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		t.Fatalf("the registry does not answer after its restart: %v\n%s", err, lastLines(containerLogs(ctx, r.c), 20))
	}
}

// pusher pushes to a test registry with crane's options.
type pusher struct {
	t    *testing.T
	host string
	opts []crane.Option
}

func newPusher(t *testing.T, host string) pusher {
	return pusher{t: t, host: host, opts: []crane.Option{crane.WithContext(t.Context()), crane.WithAuth(authn.Anonymous), crane.Insecure}}
}

// image pushes a new random image to repository:tag and returns its digest.
func (p pusher) image(ref string, oci bool) string {
	p.t.Helper()
	img := randomImage(p.t, oci)
	if err := crane.Push(img, p.host+"/"+ref, p.opts...); err != nil {
		p.t.Fatalf("push %s: %v", ref, err)
	}
	return digestOf(p.t, img)
}

// tag tags what ref names with a second tag.
func (p pusher) tag(ref, tag string) {
	p.t.Helper()
	if err := crane.Tag(p.host+"/"+ref, tag, p.opts...); err != nil {
		p.t.Fatalf("tag %s as %s: %v", ref, tag, err)
	}
}

// index pushes a two-platform OCI index to ref.
func (p pusher) index(ref string) {
	p.t.Helper()
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: randomImage(p.t, true), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: randomImage(p.t, true), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	dst, err := name.ParseReference(p.host+"/"+ref, name.Insecure)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := remote.WriteIndex(dst, idx, crane.GetOptions(p.opts...).Remote...); err != nil {
		p.t.Fatalf("push index %s: %v", ref, err)
	}
}

// sortedItems is what HSS was asked to scan, as namespace/name:tag,
// sorted, one entry per time asked.
func sortedItems(h *fakeHSS) []string {
	got := itemNames(h.Items())
	slices.Sort(got)
	return got
}

// waitItems waits until HSS was asked to scan n images (or more).
func waitItems(ctx context.Context, h *fakeHSS, n int) error {
	if err := poll(ctx, 100*time.Millisecond, func() (bool, error) { return len(h.Items()) >= n, nil }); err != nil {
		return fmt.Errorf("HSS was asked to scan %v, want %d images: %w", sortedItems(h), n, err)
	}
	return nil
}

// sourceBridgeEnv is a bridge that calls the fake HSS with access key
// 0, on NATS at natsURL, with the test timings and the sources given.
func sourceBridgeEnv(h *fakeHSS, natsURL, receivers, sources string) map[string]string {
	env := h.env(0)
	maps.Copy(env, fastBridgeEnv())
	maps.Copy(env, map[string]string{
		"BRIDGE_NATS__URL":             natsURL,
		"BRIDGE_RECEIVERS":             receivers,
		"BRIDGE_SOURCES":               sources,
		"BRIDGE_HSS__CALLS_PER_MINUTE": "600",
		"BRIDGE_HSS__BURST":            "50",
	})
	return env
}

// TestSourceRegistryToHSS: a registry that sends no notification at all,
// polled by a `registry` source. Every tag of a container image that is
// pushed reaches HSS exactly once: the images there before the bridge
// started (the first round), a second tag of a digest and a re-pushed
// moving tag (a later round); a round that finds nothing new enqueues
// nothing, and an unchanged tag is never asked again.
func TestSourceRegistryToHSS(t *testing.T) {
	t.Parallel()
	natsSrv := startNATS(t)
	bin := buildBridgeBinary(t)
	hss := startFakeHSS(t, 1)
	reg := startSourceRegistry(t, freeLoopbackPort(t), nil)
	push := newPusher(t, reg.host)

	// Before the bridge runs: the first round finds these.
	push.image("team/app:1.0", false)
	push.image("team/app:latest", false)
	push.index("team/multi:2.0")
	push.image("ops/web:3", true)
	want := []string{"ops/web:3", "team/app:1.0", "team/app:latest", "team/multi:2.0"}

	// serve needs a receiver; nothing calls this one.
	env := sourceBridgeEnv(hss, natsSrv.URL(t), receiverJSON("unused", randomToken(t)), sourceJSON("poll", reg.host, "", sourceEvery))
	b := startProcessBridge(t, bin, "bridge", env)
	js, err := jetstream.New(natsSrv.connect(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxDeadline(t, 2*time.Minute)

	first, err := waitSourceRound(ctx, js, "poll", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Result != "ok" || first.Enqueued != len(want) {
		t.Errorf("first %v, want ok with %d enqueued", first, len(want))
	}
	if err := waitItems(ctx, hss, len(want)); err != nil {
		t.Fatal(err)
	}

	// A second tag of a digest and a new image under the moving tag.
	pushed := time.Now()
	push.tag("team/app:1.0", "1.1")
	push.image("team/app:latest", false)
	pushDone := time.Now()
	want = append(want, "team/app:1.1", "team/app:latest")
	slices.Sort(want)
	found, err := waitSourceRound(ctx, js, "poll", pushDone)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitItems(ctx, hss, len(want)); err != nil {
		t.Fatal(err)
	}
	for _, it := range hss.Items() {
		if it.Namespace+"/"+it.ImageName+":"+it.ImageVersion == "team/app:latest" && it.Time.After(pushed) {
			t.Logf("figure: push → HSS request %s for the re-pushed team/app:latest at schedule.every %s: %s waiting for the next round, "+
				"then %s from its start to the HSS request (the round itself took %s)",
				it.Time.Sub(pushDone).Round(time.Millisecond), sourceEvery, found.Started.Sub(pushDone).Round(time.Millisecond),
				it.Time.Sub(found.Started).Round(time.Millisecond), found.Finished.Sub(found.Started).Round(time.Millisecond))
		}
	}

	// One more round, with nothing new: it enqueues nothing.
	idle, err := waitSourceRound(ctx, js, "poll", found.Finished)
	if err != nil {
		t.Fatal(err)
	}
	if idle.Result != "ok" || idle.Enqueued != 0 || idle.Tags != len(want)-1 {
		// -1: latest is one tag, asked twice.
		t.Errorf("a round with nothing pushed since the last: %v, want ok, %d tags, none enqueued", idle, len(want)-1)
	}
	if err := waitConsumerSettled(ctx, js); err != nil {
		t.Fatal(err)
	}
	if got := sortedItems(hss); !slices.Equal(got, want) {
		t.Errorf("HSS was asked to scan\n %v\nwant exactly\n %v", got, want)
	}
	if r := hss.Refusals(); len(r) > 0 {
		t.Errorf("HSS refused %d requests: %+v", len(r), r)
	}
	jobs, err := bridgeMetrics(ctx, b.AdminURL, "scanbridge_source_jobs_total")
	if err != nil {
		t.Fatal(err)
	}
	if got := jobs["result=enqueued,source=poll"]; got != float64(len(want)) {
		t.Errorf("scanbridge_source_jobs_total enqueued = %v, want %d (all: %v)", got, len(want), jobs)
	}
}

// TestSweepFindsLostNotifications: a registry that notifies the bridge's
// webhook, and a sweep for that receiver on the same registry. The
// registry's notifications are refused at first (its Authorization header
// is wrong): distribution retries the first event forever and holds the
// others behind it, in memory. The operator fixes the header and restarts
// the registry; the queued events are gone, the images are not. The sweep
// finds exactly those and counts them in scanbridge_sweep_found_total;
// what the webhook announced after the restart, and what existed before
// the sweep's first round, are not counted. HSS is asked to scan every
// image once.
func TestSweepFindsLostNotifications(t *testing.T) {
	t.Parallel()
	natsSrv := startNATS(t)
	bin := buildBridgeBinary(t)
	hss := startFakeHSS(t, 1)
	token := randomToken(t)
	bridgeAddr := "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))
	hook := notifyEndpoint{URL: "http://" + bridgeAddr + "/webhooks/registry", Token: token}
	wrong := notifyEndpoint{URL: hook.URL, Token: "wrong-" + randomToken(t)}
	reg := startSourceRegistry(t, freeLoopbackPort(t), &wrong)
	push := newPusher(t, reg.host)

	// There before the sweep's first round: enqueued, not counted.
	push.image("team/app:1", false)

	env := sourceBridgeEnv(hss, natsSrv.URL(t), receiverJSON("registry", token), sourceJSON("sweep", reg.host, "registry", sourceEvery))
	env["BRIDGE_HTTP__LISTEN"] = bridgeAddr
	b := startProcessBridge(t, bin, "bridge", env)
	js, err := jetstream.New(natsSrv.connect(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxDeadline(t, 2*time.Minute)
	base, err := waitSourceRound(ctx, js, "sweep", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if base.Result != "ok" || base.Baseline.IsZero() || base.Found != 0 || base.Enqueued != 1 {
		t.Fatalf("the sweep's first round: %v, baseline %v; want ok, one enqueued, none found, a baseline", base, base.Baseline)
	}

	// Pushed while the webhook refuses: lost.
	lost := []string{"ops/tool:1", "team/app:2", "team/lost:1"}
	for _, ref := range lost {
		push.image(ref, false)
	}
	if err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		m, err := bridgeMetrics(ctx, b.AdminURL, "scanbridge_webhooks_total")
		return m["receiver=registry,result=unauthorized"] >= 2, err
	}); err != nil {
		t.Fatalf("the registry's notifications never reached the bridge's webhook to be refused: %v", err)
	}
	reg.restart(t, &hook)
	restarted := time.Now()

	// The sweep's next round; then, with a whole interval before the one
	// after it, pushes the webhook announces.
	if _, err := waitSourceRound(ctx, js, "sweep", restarted); err != nil {
		t.Fatal(err)
	}
	announced := []string{"team/app:3", "team/new:1"}
	for _, ref := range announced {
		push.image(ref, false)
	}
	if err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		m, err := bridgeMetrics(ctx, b.AdminURL, "scanbridge_webhooks_total")
		return m["receiver=registry,result=accepted"] >= float64(len(announced)), err
	}); err != nil {
		t.Fatalf("the webhook never accepted the pushes after the registry's restart: %v", err)
	}
	accepted := time.Now()
	last, err := waitSourceRound(ctx, js, "sweep", accepted)
	if err != nil {
		t.Fatal(err)
	}
	if last.Result != "ok" || last.Found != 0 {
		t.Errorf("the round after the webhook announced %v: %v, want ok, none found", announced, last)
	}

	want := slices.Concat([]string{"team/app:1"}, lost, announced)
	slices.Sort(want)
	if err := waitItems(ctx, hss, len(want)); err != nil {
		t.Fatal(err)
	}
	if err := waitConsumerSettled(ctx, js); err != nil {
		t.Fatal(err)
	}
	if got := sortedItems(hss); !slices.Equal(got, want) {
		t.Errorf("HSS was asked to scan\n %v\nwant exactly\n %v", got, want)
	}
	found, err := bridgeMetrics(ctx, b.AdminURL, "scanbridge_sweep_found_total")
	if err != nil {
		t.Fatal(err)
	}
	if got := found["source=sweep"]; got != float64(len(lost)) {
		t.Errorf("scanbridge_sweep_found_total{source=\"sweep\"} = %v, want %d (the notifications lost)", got, len(lost))
	}
	if got := sweepFoundLogged(t, b.out.String()); !slices.Equal(got, lost) {
		t.Errorf("the bridge logged as found by the sweep %v, want exactly the lost %v", got, lost)
	}
	hooks, err := bridgeMetrics(ctx, b.AdminURL, "scanbridge_webhooks_total")
	if err != nil {
		t.Fatal(err)
	}
	if got := hooks["receiver=registry,result=accepted"]; got != float64(len(announced)) {
		t.Errorf("the webhook accepted %v notifications, want %d (all: %v)", got, len(announced), hooks)
	}
}

// sweepFoundLogged lists, sorted, the images of the bridge's "sweep found
// an image no webhook announced" lines (JSON log), as
// namespace/name:tag.
func sweepFoundLogged(t *testing.T, log string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg   string `json:"msg"`
			Image string `json:"image"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "sweep found an image no webhook announced" {
			continue
		}
		ref, _, _ := strings.Cut(refPath(line.Image), "@") // the job's image carries its digest
		out = append(out, ref)
	}
	slices.Sort(out)
	return out
}

// refPath drops a registry host from an image reference
// ("127.0.0.1:5000/team/app:1" → "team/app:1").
func refPath(ref string) string {
	if host, rest, ok := strings.Cut(ref, "/"); ok && strings.ContainsAny(host, ".:") {
		return rest
	}
	return ref
}

// registryCalls counts the requests a registry is sent through a proxy,
// by kind.
type registryCalls struct {
	mu     sync.Mutex
	counts map[string]int
}

// kind names a registry API request.
func callKind(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		return r.Method + " /v2/ (ping)"
	case p == "/v2/_catalog":
		return r.Method + " catalog"
	case strings.HasSuffix(p, "/tags/list"):
		return r.Method + " tags/list"
	case strings.Contains(p, "/manifests/"):
		return r.Method + " manifest"
	}
	return r.Method + " " + p
}

func (c *registryCalls) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// countingProxy serves a reverse proxy to the registry at host on the
// loopback and counts what passes; it closes with the test.
func countingProxy(t *testing.T, host string) (*registryCalls, string) {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: host}
	rp := httputil.NewSingleHostReverseProxy(target)
	calls := &registryCalls{counts: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.mu.Lock()
		calls.counts[callKind(r)]++
		calls.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return calls, strings.TrimPrefix(srv.URL, "http://")
}

// diff is after − before, by kind, and the total.
func diff(after, before map[string]int) (map[string]int, int) {
	out := map[string]int{}
	total := 0
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
			total += d
		}
	}
	return out, total
}

// TestSourceRegistryCalls measures what a round of a `registry` source
// costs the registry: the requests the bridge sends (through a counting
// proxy) for repos × tagsPer tags, in a first round (every tag new) and a
// second (nothing changed), and how long each round takes. It prints the
// figures, and checks the cost docs/sources.md states: one manifest HEAD
// per tag and a few requests per repository.
//
// Its interval is callsEvery, not sourceEvery: a round may last its
// interval (limits.round_timeout), and 1,900 requests took over 10s on a
// loaded 2-core machine (the image build beside it), which cut the first
// round short and left its last repository to the second.
func TestSourceRegistryCalls(t *testing.T) {
	t.Parallel()
	const repos, tagsPer = 10, 100
	natsSrv := startNATS(t)
	bin := buildBridgeBinary(t)
	reg := startSourceRegistry(t, freeLoopbackPort(t), nil)
	ctx := ctxDeadline(t, 3*time.Minute)

	// One image under many tags: its blobs once per repository, then a
	// manifest PUT per tag, with one login (remote.Reuse).
	img := randomImage(t, false)
	rp, err := remote.NewPusher(remote.WithContext(ctx), remote.WithAuth(authn.Anonymous))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, repos)
	for r := range repos {
		repo, err := name.NewRepository(fmt.Sprintf("%s/calls/repo-%02d", reg.host, r), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			opts := []remote.Option{remote.WithContext(ctx), remote.Reuse(rp)}
			if err := remote.Write(repo.Tag("v000"), img, opts...); err != nil {
				errs[r] = fmt.Errorf("push %s: %w", repo, err)
				return
			}
			for i := 1; i < tagsPer; i++ {
				if err := remote.Tag(repo.Tag(fmt.Sprintf("v%03d", i)), img, opts...); err != nil {
					errs[r] = fmt.Errorf("tag %s: %w", repo, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	calls, proxyHost := countingProxy(t, reg.host)
	env := fastBridgeEnv()
	maps.Copy(env, map[string]string{
		// HSS is the bridge's in-process fake: only the registry's side
		// is measured here.
		"BRIDGE_DRY_RUN":         "true",
		"BRIDGE_HSS__REGION":     testRegion,
		"BRIDGE_HSS__PROJECT_ID": testProjectID,
		"BRIDGE_NATS__URL":       natsSrv.URL(t),
		"BRIDGE_RECEIVERS":       receiverJSON("unused", randomToken(t)),
		"BRIDGE_SOURCES":         sourceJSON("calls", proxyHost, "", callsEvery),
	})
	before := calls.snapshot() // none: the first round starts with the bridge
	startProcessBridge(t, bin, "bridge", env)
	js, err := jetstream.New(natsSrv.connect(t))
	if err != nil {
		t.Fatal(err)
	}

	first, err := waitSourceRound(ctx, js, "calls", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	afterFirst := calls.snapshot()
	second, err := waitSourceRound(ctx, js, "calls", first.Finished)
	if err != nil {
		t.Fatal(err)
	}
	afterSecond := calls.snapshot()

	const tags = repos * tagsPer
	if first.Tags != tags || first.Enqueued != tags || first.Result != "ok" {
		t.Errorf("first %v, want ok with %d tags, all enqueued", first, tags)
	}
	if second.Tags != tags || second.Enqueued != 0 || second.Result != "ok" {
		t.Errorf("second %v, want ok with %d tags, none enqueued", second, tags)
	}
	perThousand := func(n int) float64 { return float64(n) * 1000 / tags }
	for _, r := range []struct {
		name   string
		round  sourceRound
		before map[string]int
		after  map[string]int
	}{
		{"first round (every tag new)", first, before, afterFirst},
		{"second round (nothing changed)", second, afterFirst, afterSecond},
	} {
		byKind, total := diff(r.after, r.before)
		kinds := slices.Sorted(maps.Keys(byKind))
		var parts []string
		for _, k := range kinds {
			parts = append(parts, fmt.Sprintf("%s %d", k, byKind[k]))
		}
		t.Logf("figure: %s over %d repositories × %d tags: %d registry requests (%.0f per 1,000 tags): %s; round took %s",
			r.name, repos, tagsPer, total, perThousand(total), strings.Join(parts, ", "),
			r.round.Finished.Sub(r.round.Started).Round(time.Millisecond))
	}
	// What docs/sources.md promises a round costs: a HEAD per tag, a GET
	// of the manifest of each new or changed tag (is it an image or an
	// artifact?), and per repository its tag list pages (one more when
	// the last page is full: the registry cannot know it was the last)
	// and the transport's ping; the catalog likewise.
	const pageSize = 100 // the source's default limits.page_size
	bound := tags + repos*(tagsPer/pageSize+1+1) + (repos/pageSize + 1 + 1)
	for _, r := range []struct {
		name          string
		changed       int
		before, after map[string]int
	}{{"first", tags, before, afterFirst}, {"second", 0, afterFirst, afterSecond}} {
		if byKind, n := diff(r.after, r.before); n > bound+r.changed {
			t.Errorf("the %s round sent %d requests to the registry, want at most %d (a HEAD per tag, a GET per changed one and a few per repository): %v",
				r.name, n, bound+r.changed, byKind)
		}
	}
}
