package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// The lifecycle's result stream under its default name (README,
// lifecycle.results.stream).
const resultStream = "SCANBRIDGE_RESULTS"

// lifecycleQuota is the calls a minute per API that the fake HSS allows
// the one IAM user of TestImageLifecycleTwoReplicas, and that the bridges
// are told (hss.calls_per_minute): HSS's own figure is 5, which would make
// the test last minutes; the rule under test, that the replicas together
// stay within each API's budget, is the same at 60.
const lifecycleQuota = 60

// TestImageLifecycleTwoReplicas follows images from push to result with
// the parts of a real deployment: a NATS container, two bridge replicas
// (host processes of the bridge built from this tree) sharing one HSS user,
// and the fake HSS with the presence check on. Some images are in SWR when
// they are pushed, some appear there only later; HSS learns them only
// through the syncs the bridges ask for. Midway through the watch the
// replica holding the watch lease is killed (SIGKILL: no lease given up,
// nothing acked). What must hold: every image gets exactly one result
// event on SCANBRIDGE_RESULTS, status scanned; HSS is asked to scan each
// image once; no API of HSS answers 429; the survivor takes the lease
// over.
func TestImageLifecycleTwoReplicas(t *testing.T) {
	t.Parallel()
	natsSrv := startNATS(t)
	natsURL := natsSrv.URL(t)
	bin := buildBridgeBinary(t)

	ak, sk := "SCANBRIDGETESTAK0001", randomToken(t)
	hss := hsstest.NewServer(hsstest.Options{
		AccessKeys:     map[string]hsstest.Key{ak: {SecretKey: sk}},
		CallsPerMinute: lifecycleQuota,
		SyncDelay:      time.Second,
		ScanQueueDelay: 500 * time.Millisecond,
		ScanDuration:   2 * time.Second,
	})
	t.Cleanup(hss.Close)
	target := hsstest.Target{Region: testRegion, ProjectID: testProjectID}

	token := randomToken(t)
	env := fastBridgeEnv()
	maps.Copy(env, map[string]string{
		"HUAWEICLOUD_SDK_AK":                ak,
		"HUAWEICLOUD_SDK_SK":                sk,
		"BRIDGE_HSS__ENDPOINT":              hss.URL,
		"BRIDGE_HSS__REGION":                testRegion,
		"BRIDGE_HSS__PROJECT_ID":            testProjectID,
		"BRIDGE_HSS__PRESENCE_CHECK":        "true",
		"BRIDGE_HSS__SYNC_INTERVAL":         "2s",
		"BRIDGE_HSS__CALLS_PER_MINUTE":      strconv.Itoa(lifecycleQuota),
		"BRIDGE_HSS__WATCH__INTERVAL":       "1s",
		"BRIDGE_HSS__WATCH__RESCAN_AFTER":   "1m", // its least value: longer than the whole test
		"BRIDGE_HSS__WATCH__SCAN_TIMEOUT":   "2m",
		"BRIDGE_HSS__WATCH__LEASE_TTL":      "3s",
		"BRIDGE_NATS__URL":                  natsURL,
		"BRIDGE_RECEIVERS":                  receiverJSON("registry", token),
		"BRIDGE_QUEUE__CONSUMER__HEARTBEAT": "1s",
	})
	bridges := []*processBridge{
		startProcessBridge(t, bin, "bridge-1", env),
		startProcessBridge(t, bin, "bridge-2", env),
	}

	// 20 images in two namespaces; the first 14 are in SWR before their
	// push reaches a bridge, the last 6 appear there 3 s later (a
	// replication that lags the webhook).
	type img struct{ ns, name, tag, digest string }
	var images []img
	for i := range 20 {
		sum := sha256.Sum256([]byte(t.Name() + strconv.Itoa(i)))
		images = append(images, img{ns: []string{"team-a", "team-b"}[i%2], name: "app" + strconv.Itoa(i), tag: "v1",
			digest: "sha256:" + hex.EncodeToString(sum[:])})
	}
	const late = 14
	for _, im := range images[:late] {
		hss.PushToSWR(target, "private_image", im.ns, im.name, im.tag, im.digest, time.Now())
	}
	ctx := ctxDeadline(t, 2*time.Minute)
	began := time.Now()
	for i, im := range images {
		b := bridges[i%2]
		code, answer, err := postWebhook(ctx, http.DefaultClient, b.URL, "registry", token, distPushEnvelope(im.ns+"/"+im.name, im.tag, im.digest))
		if err != nil || code != http.StatusAccepted || len(answer.Jobs) != 1 {
			t.Fatalf("push %s/%s:%s to %s: %d %+v %v", im.ns, im.name, im.tag, b.name, code, answer, err)
		}
	}
	lateDone := make(chan struct{})
	go func() {
		defer close(lateDone)
		select {
		case <-time.After(3 * time.Second):
		case <-ctx.Done():
			return
		}
		for _, im := range images[late:] {
			hss.PushToSWR(target, "private_image", im.ns, im.name, im.tag, im.digest, time.Now())
		}
	}()
	t.Cleanup(func() { <-lateDone })

	js, err := jetstream.New(natsSrv.connect(t))
	if err != nil {
		t.Fatal(err)
	}
	resultMsgs := func() (uint64, error) {
		s, err := js.Stream(ctx, resultStream)
		if err != nil {
			return 0, nil // not created yet
		}
		info, err := s.Info(ctx)
		if err != nil {
			return 0, err
		}
		return info.State.Msgs, nil
	}

	// Mid-watch: the first result is out, others are not, and one replica
	// holds the watch lease. Kill that one.
	var holder, survivor *processBridge
	err = poll(ctx, 200*time.Millisecond, func() (bool, error) {
		n, err := resultMsgs()
		if err != nil {
			return false, err
		}
		for i, b := range bridges {
			if b.logged(`"msg":"watch lease taken"`) || b.logged(`"msg":"watch lease taken over"`) {
				holder, survivor = b, bridges[1-i]
			}
		}
		return n > 0 && holder != nil, nil
	})
	if err != nil {
		t.Fatalf("no result event with a lease holder: %v\nHSS: %s", err, hssStats(hss))
	}
	if n, _ := resultMsgs(); n >= uint64(len(images)) {
		t.Fatalf("every image had its result before the watch could be interrupted (%d events)", n)
	}
	killedAt := time.Since(began)
	holder.kill(t)

	if err := poll(ctx, 200*time.Millisecond, func() (bool, error) {
		n, err := resultMsgs()
		return n >= uint64(len(images)), err
	}); err != nil {
		n, _ := resultMsgs()
		t.Fatalf("%d of %d result events after the lease holder was killed: %v\nHSS: %s", n, len(images), err, hssStats(hss))
	}
	if err := waitConsumerSettled(ctx, js); err != nil {
		t.Fatal(err)
	}
	// SIGKILL gave nothing up: the survivor can have the lease only by
	// taking it over once the holder stayed silent for lease_ttl.
	if !survivor.logged(`"msg":"watch lease taken over"`) {
		t.Errorf("%s never took the watch lease over from the killed %s", survivor.name, holder.name)
	}

	// Exactly one event per image, each scanned.
	events := readResults(t, ctx, js)
	perImage := map[string]int{}
	for _, ev := range events {
		ref := ev.Data.Namespace + "/" + ev.Data.Image + ":" + ev.Data.Tag
		perImage[ref]++
		if ev.Type != "scanbridge.image.scanned" || ev.Data.Status != "scanned" {
			t.Errorf("%s: event %s status %s (%s), want scanned", ref, ev.Type, ev.Data.Status, ev.Data.Reason)
		}
	}
	for _, im := range images {
		ref := im.ns + "/" + im.name + ":" + im.tag
		if n := perImage[ref]; n != 1 {
			t.Errorf("%s: %d result events, want exactly 1", ref, n)
		}
		delete(perImage, ref)
	}
	for ref, n := range perImage {
		t.Errorf("%d result events for %s, which was never pushed", n, ref)
	}

	// Each image scanned once; no 429 on any API.
	scans := map[string]int{}
	for _, it := range hss.Items() {
		scans[it.Namespace+"/"+it.ImageName+":"+it.ImageVersion]++
	}
	for _, im := range images {
		if n := scans[im.ns+"/"+im.name+":"+im.tag]; n != 1 {
			t.Errorf("%s/%s:%s: HSS was asked to scan it %d times, want once", im.ns, im.name, im.tag, n)
		}
	}
	for _, api := range lifecycleAPIs {
		if s := hss.Calls(api); s.Throttled > 0 {
			t.Errorf("%s: %d of %d calls answered 429", api, s.Throttled, s.Calls)
		}
	}
	t.Logf("%d images, %d result events in %s; the lease holder %s was killed at %s; HSS: %s",
		len(images), len(events), time.Since(began).Round(100*time.Millisecond), holder.name, killedAt.Round(100*time.Millisecond), hssStats(hss))
}

// lifecycleAPIs are the fake's APIs the swr-v5 lifecycle calls.
var lifecycleAPIs = []string{hsstest.APIBatchScan, hsstest.APIListSwrImageRepository, hsstest.APIRunImageSynchronize}

// hssStats is the fake's per-API counters, for messages.
func hssStats(h *hsstest.Server) string {
	var parts []string
	for _, api := range lifecycleAPIs {
		s := h.Calls(api)
		parts = append(parts, fmt.Sprintf("%s %d calls (%d throttled, %d refused, %d items)", api, s.Calls, s.Throttled, s.Refused, s.Items))
	}
	return strings.Join(parts, "; ")
}

// resultEvent is the part of a result CloudEvent the test reads
// (lifecycle/events.go).
type resultEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		Namespace string `json:"namespace"`
		Image     string `json:"image_name"`
		Tag       string `json:"image_version"`
		Status    string `json:"status"`
		Reason    string `json:"reason"`
	} `json:"data"`
}

// readResults reads every event the result stream holds, as a consumer
// of scanbridge.results.> would.
func readResults(t *testing.T, ctx context.Context, js jetstream.JetStream) []resultEvent {
	t.Helper()
	s, err := js.Stream(ctx, resultStream)
	if err != nil {
		t.Fatalf("result stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"scanbridge.results.>"}})
	if err != nil {
		t.Fatalf("result consumer: %v", err)
	}
	var out []resultEvent
	for uint64(len(out)) < info.State.Msgs {
		batch, err := c.Fetch(int(info.State.Msgs)-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("fetch results: %v", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var ev resultEvent
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				t.Fatalf("result event on %s is not JSON: %v: %.200s", m.Subject(), err, m.Data())
			}
			out = append(out, ev)
		}
		if batch.Error() != nil || n == 0 {
			t.Fatalf("fetch results: %d of %d read: %v", len(out), info.State.Msgs, batch.Error())
		}
	}
	return out
}

// buildBridgeBinary builds cmd/bridge of this tree for the host (go
// build: from the build cache when nothing changed) into the test's
// temporary folder.
func buildBridgeBinary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bridge")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if _, err := goCommand(ctx, mustRepoRoot(t), []string{"CGO_ENABLED=0"}, "build", "-o", path, "./cmd/bridge"); err != nil {
		t.Fatalf("build the bridge: %v", err)
	}
	return path
}

// processBridge is a bridge run as a process of the test, on the
// loopback: cheaper than a container, and killable with SIGKILL.
type processBridge struct {
	name     string
	cmd      *exec.Cmd
	out      *lockedBuffer
	done     chan struct{}
	URL      string
	AdminURL string
}

// startProcessBridge runs `bridge serve` with env as its only
// environment, a webhook listener on a free loopback port (unless env sets
// BRIDGE_HTTP__LISTEN) and an admin listener on another, and
// waits until /readyz answers 200. It is stopped (SIGTERM, then SIGKILL)
// with the test; its log is printed if the test failed.
func startProcessBridge(t *testing.T, bin, name string, env map[string]string) *processBridge {
	t.Helper()
	for _, key := range []string{"BRIDGE_NATS__URL", "BRIDGE_HSS__ENDPOINT"} {
		if err := onLoopback(env[key]); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	addr := env["BRIDGE_HTTP__LISTEN"] // a registry configured before the bridge starts must know it
	if addr == "" {
		addr = "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))
	}
	adminAddr := "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))
	all := maps.Clone(env)
	all["BRIDGE_HTTP__LISTEN"] = addr
	all["BRIDGE_ADMIN__LISTEN"] = adminAddr
	all["BRIDGE_NATS__DATA_DIR"] = t.TempDir() // unused with nats.url; kept out of the tree
	b := &processBridge{name: name, out: &lockedBuffer{}, done: make(chan struct{}), URL: "http://" + addr, AdminURL: "http://" + adminAddr}
	b.cmd = exec.Command(bin, "serve")
	for _, k := range slices.Sorted(maps.Keys(all)) {
		b.cmd.Env = append(b.cmd.Env, k+"="+all[k])
	}
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			b.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-b.done:
			case <-time.After(15 * time.Second):
				b.cmd.Process.Kill()
				<-b.done
			}
		}
		if t.Failed() {
			t.Logf("%s log (last 60 lines):\n%s", name, lastLines(b.out.String(), 60))
		}
	})
	ctx := ctxDeadline(t, time.Minute)
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		select {
		case <-b.done:
			return false, fmt.Errorf("%s exited: %s", name, b.cmd.ProcessState)
		default:
		}
		resp, err := http.Get(b.URL + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("%s not ready: %v\n%s", name, err, lastLines(b.out.String(), 40))
	}
	return b
}

// kill ends the bridge with SIGKILL, as an OOM kill or a lost node does:
// nothing is given up or acked on the way out.
func (b *processBridge) kill(t *testing.T) {
	t.Helper()
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill %s: %v", b.name, err)
	}
	<-b.done
}

// logged reports whether the bridge's log holds s.
func (b *processBridge) logged(s string) bool { return strings.Contains(b.out.String(), s) }

// lockedBuffer is a bytes.Buffer that a process writes while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
