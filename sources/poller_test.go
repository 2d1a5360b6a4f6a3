package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

const (
	regUser = "poller"
	regPass = "registry-password-0123"
)

var target = scanjob.Target{Region: "cn-north-4", ProjectID: "p1", ImageType: scanjob.PrivateImage}

// testRegistry is go-containerregistry's in-process OCI distribution
// registry behind HTTP basic auth (or a static bearer token), counting
// the requests it answers.
type testRegistry struct {
	srv      *httptest.Server
	host     string
	requests atomic.Int64
}

func newTestRegistry(t *testing.T, bearer string) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.requests.Add(1)
		ok := false
		if bearer != "" {
			ok = r.Header.Get("Authorization") == "Bearer "+bearer
		} else {
			u, p, has := r.BasicAuth()
			ok = has && u == regUser && p == regPass
		}
		if !ok {
			if bearer != "" {
				// A static token: the token service is never asked.
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+tr.srv.URL+`/token",service="test"`)
			} else {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			}
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "http://")
	return tr
}

// push writes a random image under repo:tag and returns its digest.
func (tr *testRegistry) push(t *testing.T, repoTag string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(tr.host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: regUser, Password: regPass})); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// rig is a source's world: the registry, embedded NATS with the real job
// stream, the webhook server with a distribution receiver "hook".
type rig struct {
	reg   *testRegistry
	ns    *natstest.Server
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	q     *queue.Queue
	srv   *handlers.Server
	store *lifecycle.Store
}

type queuePublisher struct{ q *queue.Queue }

func (p queuePublisher) Publish(ctx context.Context, j scanjob.Job) (bool, error) {
	res, err := p.q.Publish(ctx, j)
	return res.Duplicate, err
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{reg: newTestRegistry(t, ""), ns: natstest.Start(t)}
	r.js = r.ns.JetStream()
	ctx := context.Background()
	var err error
	if r.kv, err = OpenBucket(ctx, r.js, 1); err != nil {
		t.Fatal(err)
	}
	if r.q, err = queue.Open(ctx, r.js, queue.Config{}, nil, queue.NewMetrics(nil)); err != nil {
		t.Fatal(err)
	}
	if r.store, err = lifecycle.Open(ctx, r.js, lifecycle.Config{}); err != nil {
		t.Fatal(err)
	}
	r.srv, err = handlers.New(handlers.Config{MaxBodyBytes: 64 << 10, PublishTimeout: 5 * time.Second,
		Receivers: []handlers.ReceiverConfig{{Name: "hook", Format: "distribution", Auth: handlers.AuthConfig{Method: handlers.AuthNone}, Target: target}},
		Routes:    []handlers.RouteConfig{{Match: handlers.RouteMatch{Repository: "drop/*"}, Action: handlers.ActionDrop}}},
		handlers.Options{Publisher: queuePublisher{r.q}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) source(name string) Config {
	return Config{Name: name, Kind: KindRegistry, URL: "http://" + r.reg.host, Insecure: true, Target: target,
		Auth: Auth{Method: AuthBasic, User: regUser, Password: regPass}}
}

func (r *rig) poller(t *testing.T, c Config, m *Metrics) *Poller {
	t.Helper()
	p, err := New(c, Deps{KV: r.kv, Planner: r.srv, Publisher: queuePublisher{r.q}, Known: r.store, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func round(t *testing.T, p *Poller, dry bool) Report {
	t.Helper()
	rep, err := p.Round(context.Background(), dry)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != ResultOK {
		t.Fatalf("round result %s: %s %v", rep.Result, rep.Error, rep.Failed)
	}
	return rep
}

func images(rep Report) []string {
	var out []string
	for _, j := range rep.Jobs {
		if !j.Duplicate {
			out = append(out, j.Image)
		}
	}
	slices.Sort(out)
	return out
}

func TestRoundsEnqueueNewAndChangedTagsOnce(t *testing.T) {
	r := newRig(t)
	d1 := r.reg.push(t, "team/app:1.0")
	d2 := r.reg.push(t, "team/app:latest")
	d3 := r.reg.push(t, "other/tool:v1")
	p := r.poller(t, r.source("poll"), nil)

	dry := round(t, p, true)
	want := []string{"other/tool:v1@" + d3, "team/app:1.0@" + d1, "team/app:latest@" + d2}
	if got := images(dry); !slices.Equal(got, want) {
		t.Fatalf("dry run would enqueue %v, want %v", got, want)
	}
	if n := streamMessages(t, r); n != 0 {
		t.Fatalf("a dry run stored %d jobs", n)
	}

	first := round(t, p, false)
	if got := images(first); !slices.Equal(got, want) {
		t.Fatalf("first round enqueued %v, want %v", got, want)
	}
	if first.Repositories != 2 || first.Tags != 3 {
		t.Errorf("first round checked %d repositories, %d tags", first.Repositories, first.Tags)
	}
	if n := streamMessages(t, r); n != 3 {
		t.Fatalf("stream holds %d jobs after the first round, want 3", n)
	}
	if second := round(t, p, false); len(second.Jobs) != 0 {
		t.Fatalf("second round enqueued %v, want nothing", second.Jobs)
	}
	d4 := r.reg.push(t, "team/app:latest") // a new image under a moving tag
	third := round(t, p, false)
	if got := images(third); !slices.Equal(got, []string{"team/app:latest@" + d4}) {
		t.Fatalf("after a re-push the round enqueued %v", got)
	}
	if n := streamMessages(t, r); n != 4 {
		t.Fatalf("stream holds %d jobs, want 4", n)
	}
	rec, err := ReadRound(context.Background(), r.kv, "poll")
	if err != nil || rec.Result != ResultOK || rec.Baseline.IsZero() || rec.LastSuccess.IsZero() {
		t.Fatalf("round record %+v, %v", rec, err)
	}
	if keys, _, err := CheckpointSize(context.Background(), r.kv, "poll"); err != nil || keys != 2 {
		t.Fatalf("checkpoint keys %d, %v; want 2", keys, err)
	}
}

func streamMessages(t *testing.T, r *rig) uint64 {
	t.Helper()
	s, err := r.js.Stream(context.Background(), r.q.Config().Stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// lanes reads every job in the stream: tag → lane, and whether the
// subject carries the lane (queue.Subject) when it is a background one.
func lanes(t *testing.T, r *rig) map[string]scanjob.Lane {
	t.Helper()
	ctx := context.Background()
	// A work-queue stream: read the messages by sequence, not through a
	// consumer that would take them.
	s, err := r.js.Stream(ctx, r.q.Config().Stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]scanjob.Lane{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var j scanjob.Job
		if err := json.Unmarshal(m.Data, &j); err != nil {
			t.Fatal(err)
		}
		if j.Lane.Background() && !strings.HasSuffix(m.Subject, "."+string(j.Lane)) {
			t.Errorf("job %s of lane %s stored on %s", j.Ref(), j.Lane, m.Subject)
		}
		out[j.Tag] = j.Lane
	}
	return out
}

func TestGlobsAndRoutesSelect(t *testing.T) {
	r := newRig(t)
	r.reg.push(t, "team/app:1")
	r.reg.push(t, "team/tmp-x:1")
	r.reg.push(t, "team/sub/deep:1")
	r.reg.push(t, "other/app:1")
	r.reg.push(t, "drop/me:1")
	r.reg.push(t, "team/app:sha256-"+strings.Repeat("a", 64)+".sig")
	tests := []struct {
		name    string
		globs   Globs
		want    []string
		skipped int
	}{
		{"include and exclude", Globs{Include: []string{"team/*"}, Exclude: []string{"team/tmp-*"}}, []string{"team/app:1"}, 1},
		{"plain names skip the catalog", Globs{Include: []string{"other/app", "team/sub/deep"}}, []string{"other/app:1", "team/sub/deep:1"}, 0},
		{"everything, routes drop drop/*", Globs{}, []string{"other/app:1", "team/app:1", "team/sub/deep:1", "team/tmp-x:1"}, 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := r.source(fmt.Sprintf("g%d", i))
			c.Repositories = tt.globs
			rep := round(t, r.poller(t, c, nil), true)
			var got []string
			for _, j := range rep.Jobs {
				got = append(got, j.Image[:strings.IndexByte(j.Image, '@')])
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) || len(rep.Skipped) != tt.skipped {
				t.Fatalf("jobs %v (want %v), skipped %v (want %d)", got, tt.want, rep.Skipped, tt.skipped)
			}
		})
	}
}

// TestJobIDIsTheWebhooks: a sweep's job for a push has the id of the job
// the distribution webhook of that push makes, so the two are one job.
func TestJobIDIsTheWebhooks(t *testing.T) {
	r := newRig(t)
	digest := r.reg.push(t, "team/app:1.0")
	c := r.source("sweep")
	c.Target, c.SweepFor = scanjob.Target{}, "hook"
	rep := round(t, r.poller(t, c, nil), true)
	if len(rep.Jobs) != 1 {
		t.Fatalf("jobs %v", rep.Jobs)
	}
	e, err := r.srv.Explain("hook", http.Header{}, distributionPush(r.reg.host, "team/app", "1.0", digest))
	if err != nil || len(e.Jobs) != 1 {
		t.Fatalf("webhook explanation %+v, %v", e, err)
	}
	if rep.Jobs[0].ID != e.Jobs[0].ID {
		t.Fatalf("poll job id %s, webhook job id %s", rep.Jobs[0].ID, e.Jobs[0].ID)
	}
}

func distributionPush(host, repo, tag, digest string) []byte {
	return fmt.Appendf(nil, `{"events":[{"id":"ev-%s","timestamp":"2026-12-05T10:00:00Z","action":"push",
"target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"repository":%q,"tag":%q},
"request":{"host":%q}}]}`, tag, digest, repo, tag, host)
}

func TestSweepCountsOnlyWhatNoWebhookAnnounced(t *testing.T) {
	r := newRig(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	r.reg.push(t, "team/old:1")
	c := r.source("sweep")
	c.Target, c.SweepFor = scanjob.Target{}, "hook"
	p := r.poller(t, c, m)
	if rep := round(t, p, false); rep.Found != 0 || len(rep.Jobs) != 1 {
		t.Fatalf("baseline round: found %d, jobs %v; what exists before the first pass is no loss", rep.Found, rep.Jobs)
	}

	// announced: a webhook stored it (in the duplicate window).
	dA := r.reg.push(t, "team/app:announced")
	e := r.srv.NewEcho()
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhooks/hook", bytes.NewReader(distributionPush(r.reg.host, "team/app", "announced", dA))))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("webhook answered %d %s", rec.Code, rec.Body)
	}
	// known: the bridge has its lifecycle record (the window passed).
	dK := r.reg.push(t, "team/app:known")
	known := scanjob.Job{Receiver: "hook", Registry: "distribution", Namespace: "team", Image: "app", Tag: "known", Digest: dK, Target: target}
	if _, err := r.store.Create(context.Background(), lifecycle.NewRecord(known)); err != nil {
		t.Fatal(err)
	}
	// lost: no webhook came.
	dL := r.reg.push(t, "team/app:lost")

	rep := round(t, p, false)
	var found []string
	for _, j := range rep.Jobs {
		if j.Found {
			found = append(found, j.Image)
		}
	}
	if rep.Found != 1 || !slices.Equal(found, []string{"team/app:lost@" + dL}) || len(rep.Jobs) != 3 {
		t.Fatalf("found %d %v among %v; want only team/app:lost", rep.Found, found, rep.Jobs)
	}
	if got := testutil.ToFloat64(m.found.WithLabelValues("sweep")); got != 1 {
		t.Fatalf("scanbridge_sweep_found_total = %v", got)
	}
	if got := testutil.ToFloat64(m.rounds.WithLabelValues("sweep", ResultOK)); got != 2 {
		t.Fatalf("scanbridge_source_rounds_total{result=ok} = %v", got)
	}
	if n := streamMessages(t, r); n != 4 {
		t.Fatalf("stream holds %d jobs; the announced push must be one job", n)
	}
	// The sweep's jobs take the sweep lane; the webhook's stays a push.
	want := map[string]scanjob.Lane{"1": scanjob.LaneSweep, "announced": "", "known": scanjob.LaneSweep, "lost": scanjob.LaneSweep}
	if got := lanes(t, r); !maps.Equal(got, want) {
		t.Errorf("lanes by tag %v, want %v", got, want)
	}
}

func TestBearerAndBadCredentials(t *testing.T) {
	ns := natstest.Start(t)
	kv, err := OpenBucket(context.Background(), ns.JetStream(), 1)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := handlers.New(handlers.Config{MaxBodyBytes: 64 << 10, PublishTimeout: time.Second,
		Receivers: []handlers.ReceiverConfig{{Name: "hook", Format: "distribution", Auth: handlers.AuthConfig{Method: handlers.AuthNone}, Target: target}}},
		handlers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const token = "static-registry-token-0123456789"
	tr := newTestRegistry(t, token)
	// Push through the bearer front door too.
	img, _ := random.Image(128, 1)
	ref, _ := name.ParseReference(tr.host+"/team/app:1", name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Bearer{Token: token})); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		auth Auth
		ok   bool
	}{
		{"bearer", Auth{Method: AuthBearer, Token: token}, true},
		{"wrong token", Auth{Method: AuthBearer, Token: "wrong"}, false},
		{"anonymous", Auth{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Name: "b", URL: "http://" + tr.host, Insecure: true, Target: target, Auth: tt.auth,
				Repositories: Globs{Include: []string{"team/app"}}}
			p, err := New(c, Deps{KV: kv, Planner: srv})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := p.Round(context.Background(), true)
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Result == ResultOK && len(rep.Jobs) == 1; got != tt.ok {
				t.Fatalf("round %s, jobs %v, failed %v", rep.Result, rep.Jobs, rep.Failed)
			}
			if strings.Contains(fmt.Sprint(rep), token) {
				t.Fatal("the report shows the token")
			}
		})
	}
}

func TestHTTPSURLNeverFallsBackToHTTP(t *testing.T) {
	tr := newTestRegistry(t, "")
	ns := natstest.Start(t)
	kv, _ := OpenBucket(context.Background(), ns.JetStream(), 1)
	c := Config{Name: "tls", URL: "https://" + tr.host, Target: target, Auth: Auth{Method: AuthBasic, User: regUser, Password: regPass},
		Repositories: Globs{Include: []string{"team/app"}}}
	p, err := New(c, Deps{KV: kv, Planner: &handlers.Server{}})
	if err != nil {
		t.Fatal(err)
	}
	before := tr.requests.Load()
	rep, _ := p.Round(context.Background(), true)
	if rep.Result == ResultOK {
		t.Fatalf("an https source polled a plain http registry: %+v", rep)
	}
	if n := tr.requests.Load() - before; n != 0 {
		t.Fatalf("%d plain http requests reached the registry", n)
	}
}

// TestALargeRegistryIsCoveredOverRounds: a round stops at
// max_repositories and the next goes on after the last repository done.
func TestALargeRegistryIsCoveredOverRounds(t *testing.T) {
	r := newRig(t)
	for _, ref := range []string{"team/a:1", "team/b:1", "team/c:1"} {
		r.reg.push(t, ref)
	}
	c := r.source("big")
	c.Limits.MaxRepositories = 2
	p := r.poller(t, c, nil)
	var seen []string
	for i, want := range []struct {
		result, resume string
		repos          int
	}{{ResultPartial, "team/b", 2}, {ResultOK, "", 1}, {ResultPartial, "team/b", 2}} {
		rep, err := p.Round(context.Background(), false)
		if err != nil || rep.Result != want.result || rep.Resume != want.resume || rep.Repositories != want.repos {
			t.Fatalf("round %d: %s resume %q, %d repositories (%v); want %+v", i+1, rep.Result, rep.Resume, rep.Repositories, err, want)
		}
		for _, j := range rep.Jobs {
			seen = append(seen, j.Image[:strings.IndexByte(j.Image, ':')])
		}
	}
	if !slices.Equal(seen, []string{"team/a", "team/b", "team/c"}) {
		t.Fatalf("enqueued %v: every repository once", seen)
	}
	rec, _ := ReadRound(context.Background(), r.kv, "big")
	if rec.Baseline.IsZero() {
		t.Fatal("the pass that reached the end set no baseline")
	}
}

// flakyPublisher fails while down is set.
type flakyPublisher struct {
	Publisher
	down atomic.Bool
}

func (f *flakyPublisher) Publish(ctx context.Context, j scanjob.Job) (bool, error) {
	if f.down.Load() {
		return false, fmt.Errorf("nats: no responders available for request")
	}
	return f.Publisher.Publish(ctx, j)
}

// TestAJobNotStoredIsTriedAgain: a tag whose job the queue did not store
// keeps no checkpoint entry, so the next round enqueues it.
func TestAJobNotStoredIsTriedAgain(t *testing.T) {
	r := newRig(t)
	d := r.reg.push(t, "team/app:1")
	pub := &flakyPublisher{Publisher: queuePublisher{r.q}}
	pub.down.Store(true)
	p, err := New(r.source("flaky"), Deps{KV: r.kv, Planner: r.srv, Publisher: pub})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Round(context.Background(), false)
	if err != nil || rep.Result != ResultPartial || len(rep.Failed) != 1 {
		t.Fatalf("round with the queue down: %s %v %v", rep.Result, rep.Failed, err)
	}
	pub.down.Store(false)
	if got := images(round(t, p, false)); !slices.Equal(got, []string{"team/app:1@" + d}) {
		t.Fatalf("the next round enqueued %v", got)
	}
	if rep := round(t, p, false); len(rep.Jobs) != 0 {
		t.Fatalf("then nothing: %v", rep.Jobs)
	}
}
