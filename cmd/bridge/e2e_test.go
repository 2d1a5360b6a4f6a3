package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/queue"
)

// These tests run the whole bridge in this process, over loopback: the
// Echo server, an embedded nats-server with JetStream on disk, the
// batching consumer, and the HSS client signing requests for the strict
// fake HSS server (hsstest), which refuses anything the API reference
// does not allow.

const (
	testAK, testSK = "AKE2ETEST", "SKE2ETESTSECRET"
	testToken      = "e2e-token-0123456789"
)

// e2eEnv is one running bridge plus the fake HSS it calls.
type e2eEnv struct {
	t   *testing.T
	hss *hsstest.Server
	cfg config.Config
	app *app
}

func newE2E(t *testing.T, mutate ...func(*config.Config)) *e2eEnv {
	t.Helper()
	hss := hsstest.NewServer(hsstest.Options{AccessKeys: map[string]hsstest.Key{testAK: {SecretKey: testSK}}})
	t.Cleanup(hss.Close)
	cfg := config.Default()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.HTTP.ShutdownGrace = 5 * time.Second
	cfg.NATS.DataDir = t.TempDir()
	cfg.NATS.Listen = "" // in-process only
	cfg.HSS.Region, cfg.HSS.ProjectID = "cn-north-4", "0123456789abcdef0123456789abcdef"
	cfg.HSS.Endpoint = hss.URL
	cfg.HSS.AccessKey, cfg.HSS.SecretKey = testAK, testSK
	// Fast but real limits: the rate limiter and the call slots still
	// run, at a pace that keeps the test short.
	cfg.HSS.CallsPerMinute, cfg.HSS.Burst = 600, 50
	// These tests are about the scan path; nothing pushes their images
	// into the fake's SWR, so the presence gate (scanner/presence.go,
	// tested in package scanner) would wait for them.
	cfg.HSS.PresenceCheck = false
	cfg.Queue.Consumer.Linger = 300 * time.Millisecond
	cfg.Queue.Consumer.MaxItems = 10
	cfg.Queue.Consumer.BackoffBase = 100 * time.Millisecond
	cfg.Queue.Consumer.BackoffCap = 500 * time.Millisecond
	// AckWait is 3 heartbeats: messages cut off by a hard stop come back
	// after 3s instead of 30s.
	cfg.Queue.Consumer.Heartbeat = time.Second
	cfg.Receivers = []handlers.ReceiverConfig{{
		Name: "harbor", Format: "harbor",
		Auth: handlers.AuthConfig{Method: handlers.AuthToken, Secrets: []string{testToken}},
	}}
	for _, m := range mutate {
		m(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	e := &e2eEnv{t: t, hss: hss, cfg: cfg}
	e.start()
	t.Cleanup(func() {
		if e.app != nil {
			e.stop()
		}
	})
	return e
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (e *e2eEnv) start() {
	e.t.Helper()
	a, err := start(context.Background(), e.cfg, testLogger(e.t))
	if err != nil {
		e.t.Fatalf("start: %v", err)
	}
	e.app = a
}

func (e *e2eEnv) stop() {
	e.t.Helper()
	if err := e.app.shutdown(); err != nil {
		e.t.Logf("shutdown: %v", err)
	}
	e.app = nil
}

// harborPush is Harbor's default PUSH_ARTIFACT payload for one tag.
func harborPush(ns, repo, tag string) string {
	return fmt.Sprintf(`{"type":"PUSH_ARTIFACT","occur_at":1700000000,"operator":"ci","event_data":{"resources":[{"digest":"sha256:%064x","tag":%q,"resource_url":"harbor.example.com/%s/%s:%s"}],"repository":{"date_created":1700000000,"name":%q,"namespace":%q,"repo_full_name":"%s/%s","repo_type":"private"}}}`,
		len(ns+repo+tag), tag, ns, repo, tag, repo, ns, ns, repo)
}

func (e *e2eEnv) post(body, token string) (int, handlers.Answer) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.app.ln.Addr().String()+"/webhooks/harbor", strings.NewReader(body))
	req.Header.Set("Authorization", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	var ans handlers.Answer
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &ans); err != nil {
		e.t.Fatalf("answer %q: %v", raw, err)
	}
	return resp.StatusCode, ans
}

// delivered counts HSS items per "ns/image:tag".
func delivered(hss *hsstest.Server) map[string]int {
	out := map[string]int{}
	for _, it := range hss.Items() {
		out[it.Namespace+"/"+it.ImageName+":"+it.ImageVersion]++
	}
	return out
}

func TestE2EBatchesByNamespace(t *testing.T) {
	e := newE2E(t, func(c *config.Config) {
		// Only the size trigger may flush: each namespace fills exactly
		// one group of MaxItems. That is the ready packing; quota packing
		// would share calls among namespaces (docs/scheduling.md).
		c.Queue.Consumer.Packing = queue.PackReady
		c.Queue.Consumer.Linger = time.Minute
		c.Queue.Consumer.MaxItemsPerCall = 10 // one namespace group per call
		c.Queue.Consumer.MaxHeld = 100        // room for every group at once
	})
	const namespaces, perNS = 4, 10
	want := map[string]int{}
	for i := range perNS {
		for n := range namespaces {
			ns := fmt.Sprintf("team%d", n)
			code, ans := e.post(harborPush(ns, "app", fmt.Sprintf("v%d", i)), testToken)
			if code != http.StatusAccepted {
				t.Fatalf("push %s v%d: %d %+v", ns, i, code, ans)
			}
			want[fmt.Sprintf("%s/app:v%d", ns, i)] = 1
		}
	}
	natstest.Eventually(t, 30*time.Second, "every job at HSS", func() bool { return len(e.hss.Items()) >= namespaces*perNS })

	reqs := e.hss.Requests()
	if len(reqs) != namespaces {
		t.Fatalf("HSS got %d calls, want one per namespace (%d)", len(reqs), namespaces)
	}
	for _, r := range reqs {
		if r.Body.ImageInfoList == nil {
			t.Fatalf("call without image_info_list: %+v", r.Body)
		}
		list := *r.Body.ImageInfoList
		nss := map[string]bool{}
		for _, it := range list {
			nss[deref(it.Namespace)] = true
		}
		if len(list) != perNS || len(nss) != 1 {
			t.Errorf("call with %d items over namespaces %v, want %d items of one namespace", len(list), nss, perNS)
		}
		if deref(r.Body.ImageType) != "private_image" || r.Target.ProjectID != e.cfg.HSS.ProjectID {
			t.Errorf("call target %+v type %q", r.Target, deref(r.Body.ImageType))
		}
	}
	if got := delivered(e.hss); !equalCounts(got, want) {
		t.Fatalf("delivered %v, want each of %d images once", got, len(want))
	}
}

func TestE2ERetriedDeliveryIsOneJob(t *testing.T) {
	e := newE2E(t)
	body := harborPush("team", "app", "1.0")
	for i := range 2 {
		code, ans := e.post(body, testToken)
		if code != http.StatusAccepted || len(ans.Jobs) != 1 || ans.Jobs[0].Duplicate != (i == 1) {
			t.Fatalf("delivery %d: %d %+v", i, code, ans)
		}
	}
	natstest.Eventually(t, 30*time.Second, "the job at HSS", func() bool { return len(e.hss.Items()) == 1 })
	// A later flush must not bring a second copy.
	code, _ := e.post(harborPush("team", "app", "2.0"), testToken)
	if code != http.StatusAccepted {
		t.Fatalf("second image: %d", code)
	}
	natstest.Eventually(t, 30*time.Second, "the second image", func() bool { return len(e.hss.Items()) == 2 })
	if got := delivered(e.hss); got["team/app:1.0"] != 1 {
		t.Fatalf("team/app:1.0 delivered %d times, want 1", got["team/app:1.0"])
	}
}

func TestE2EWrongTokenStoresNothing(t *testing.T) {
	e := newE2E(t)
	code, _ := e.post(harborPush("team", "app", "1.0"), "wrong")
	if code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", code)
	}
	info, err := streamInfo(e)
	if err != nil {
		t.Fatal(err)
	}
	if info != 0 {
		t.Fatalf("stream holds %d messages after a refused webhook, want 0", info)
	}
}

func streamInfo(e *e2eEnv) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js, err := jetstreamFor(e.app)
	if err != nil {
		return 0, err
	}
	s, err := js.Stream(ctx, e.app.q.Config().Stream.Name)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

func TestE2ERestartMidwayLosesNothing(t *testing.T) {
	e := newE2E(t)
	hold := make(chan struct{})
	remove := e.hss.Inject(hsstest.Fault{Hold: hold})
	want := map[string]int{}
	for i := range 15 {
		ns := fmt.Sprintf("ns%d", i%3)
		if code, ans := e.post(harborPush(ns, "svc", fmt.Sprintf("t%d", i)), testToken); code != http.StatusAccepted {
			t.Fatalf("push: %d %+v", code, ans)
		}
		want[fmt.Sprintf("%s/svc:t%d", ns, i)] = 1
	}
	// Calls are now held inside HSS; stop the bridge with a short grace so
	// they are cut off and nakked, never acked.
	natstest.Eventually(t, 30*time.Second, "a call in flight", func() bool { return e.hss.InFlight() > 0 })
	e.app.cfg.HTTP.ShutdownGrace = 300 * time.Millisecond
	e.stop()
	close(hold)
	remove()
	held := len(e.hss.Items()) // calls that completed after the cut-off still count
	e.start()
	natstest.Eventually(t, 30*time.Second, "every job at HSS after restart", func() bool {
		got := delivered(e.hss)
		for k := range want {
			if got[k] == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("items seen before restart: %d; total deliveries: %d for %d jobs", held, len(e.hss.Items()), len(want))
}

func TestE2EOutageIsRetried(t *testing.T) {
	e := newE2E(t)
	until := time.Now().Add(1500 * time.Millisecond)
	e.hss.Inject(hsstest.Fault{Status: http.StatusServiceUnavailable, Until: until})
	want := map[string]int{}
	for i := range 6 {
		if code, _ := e.post(harborPush("ops", "api", fmt.Sprintf("r%d", i)), testToken); code != http.StatusAccepted {
			t.Fatalf("push %d: %d", i, code)
		}
		want[fmt.Sprintf("ops/api:r%d", i)] = 1
	}
	natstest.Eventually(t, 30*time.Second, "delivery after the outage", func() bool { return len(delivered(e.hss)) == len(want) })
	if refusals := len(e.hss.Refusals()); refusals == 0 {
		t.Fatal("HSS refused nothing: the outage was not exercised")
	}
	for k, n := range delivered(e.hss) {
		if n != 1 {
			t.Errorf("%s delivered %d times", k, n)
		}
	}
}

func TestE2EBadItemIsDeadLettered(t *testing.T) {
	e := newE2E(t)
	e.hss.RefuseImage("team", "bad", "1.0")
	for _, p := range [][2]string{{"good", "1.0"}, {"bad", "1.0"}, {"good", "2.0"}, {"also", "1.0"}} {
		if code, _ := e.post(harborPush("team", p[0], p[1]), testToken); code != http.StatusAccepted {
			t.Fatalf("push %v: %d", p, code)
		}
	}
	natstest.Eventually(t, 30*time.Second, "the good images at HSS", func() bool { return len(delivered(e.hss)) == 3 })
	var dls []queue.DeadLetter
	natstest.Eventually(t, 30*time.Second, "the dead letter", func() bool {
		var err error
		dls, err = e.app.q.DeadLetters().List(context.Background(), queue.Filter{})
		return err == nil && len(dls) == 1
	})
	dl := dls[0]
	if dl.Job == nil || dl.Job.Image != "bad" || dl.Status != http.StatusBadRequest || dl.ErrorCode == "" {
		t.Fatalf("dead letter %+v, want team/bad:1.0 with HSS status 400 and an error code", dl)
	}
	if got := delivered(e.hss); got["team/bad:1.0"] != 0 {
		t.Fatal("the refused image was counted as delivered")
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

var _ = bytes.NewReader

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func TestE2ENATSIntakeReachesHSS(t *testing.T) {
	e := newE2E(t, func(c *config.Config) { c.NATS.Intake.Enabled = true })
	nc, err := nats.Connect("", nats.InProcessServer(e.app.ns))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m := nats.NewMsg("scanbridge.intake.harbor")
	m.Header.Set(handlers.FormatHeader, "job")
	m.Data = []byte(`{"namespace":"svc","image_name":"worker","image_version":"7.1"}`)
	reply, err := nc.RequestMsg(m, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ans handlers.NATSAnswer
	if err := json.Unmarshal(reply.Data, &ans); err != nil || ans.Code != http.StatusAccepted {
		t.Fatalf("reply %s (%v), want code 202", reply.Data, err)
	}
	natstest.Eventually(t, 30*time.Second, "the job at HSS", func() bool { return delivered(e.hss)["svc/worker:7.1"] == 1 })
}

func TestE2EThrottlingCutsTheRateAndLosesNothing(t *testing.T) {
	e := newE2E(t)
	ceiling := e.app.hss.Rate()
	e.hss.Inject(hsstest.Fault{Status: http.StatusTooManyRequests, Times: 2})
	for i := range 4 {
		if code, _ := e.post(harborPush("ops", "api", fmt.Sprintf("t%d", i)), testToken); code != http.StatusAccepted {
			t.Fatalf("push %d: %d", i, code)
		}
	}
	natstest.Eventually(t, 30*time.Second, "a 429 seen by the limiter", func() bool { return e.app.hss.Rate() < ceiling })
	natstest.Eventually(t, 30*time.Second, "delivery after the throttling", func() bool { return len(delivered(e.hss)) == 4 })
	if r := e.app.hss.Rate(); r > ceiling {
		t.Fatalf("rate %v above the ceiling %v", r, ceiling)
	}
}
