package scanner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/hss/v5/model"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/ratelimit"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// The lifecycle tests run once per hss.api flavour on the real parts: an
// embedded NATS (job stream, lifecycle store, results), the HSS side with
// its presence gate, the watcher, the quota, and the fake HSS with its
// catalog behind the real hssclient.

var catalogAPIs = []string{CatalogSWRv5, CatalogTasks}

// flavourAPIs are the APIs each flavour may call; the others must not be.
var flavourAPIs = map[string][]API{
	CatalogSWRv5: {APISwrRepository, APISynchronize, APIBatchScan},
	CatalogTasks: {APIRegistryImages, APISyncTasks, APIScanTasks, APITasks},
}

// countingLimiter counts the permits a budget granted.
type countingLimiter struct {
	ratelimit.Limiter
	mu      sync.Mutex
	granted int
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	err := l.Limiter.Wait(ctx)
	if err == nil {
		l.mu.Lock()
		l.granted++
		l.mu.Unlock()
	}
	return err
}

func (l *countingLimiter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.granted
}

// scanCall is one accepted scan call as sent: batch-scan or scan task.
type scanCall struct {
	path  string
	items []scanItem
}

// scanItem is one image of a scan call; ID is a scan task's id (0 when
// not sent).
type scanItem struct {
	ID                                 int64
	Namespace, ImageName, ImageVersion string
	ImageDigest, RegistryType          string
}

// recorder keeps the bodies of the scan calls the fake accepted.
type recorder struct {
	next  http.RoundTripper
	mu    sync.Mutex
	calls []scanCall
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	scan := req.Method == http.MethodPost && (strings.HasSuffix(req.URL.Path, "/image/batch-scan") ||
		strings.HasSuffix(req.URL.Path, "/image/image-scan/tasks"))
	if !scan || req.Body == nil {
		return r.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := r.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	var b struct {
		List  []scanItem `json:"image_info_list"`
		Tasks []scanItem `json:"image_info"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.calls = append(r.calls, scanCall{path: req.URL.Path, items: append(b.List, b.Tasks...)})
	r.mu.Unlock()
	return resp, nil
}

func (i *scanItem) UnmarshalJSON(data []byte) error {
	var v struct {
		ID           int64  `json:"id"`
		Namespace    string `json:"namespace"`
		ImageName    string `json:"image_name"`
		ImageVersion string `json:"image_version"`
		ImageDigest  string `json:"image_digest"`
		RegistryType string `json:"registry_type"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*i = scanItem(v)
	return nil
}

func (r *recorder) items(j scanjob.Job) []scanItem {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []scanItem
	for _, c := range r.calls {
		for _, it := range c.items {
			if it.Namespace == j.Namespace && it.ImageName == j.Image && it.ImageVersion == j.Tag {
				out = append(out, it)
			}
		}
	}
	return out
}

type catalogEnv struct {
	t      *testing.T
	api    string
	fake   *hsstest.Fake
	rec    *recorder
	h      *HSS
	quota  *Quota
	lims   map[API]*countingLimiter
	q      *queue.Queue
	store  *lifecycle.Store
	pub    *lifecycle.Publisher
	js     jetstream.JetStream
	hssTgt hsstest.Target
}

// startCatalog runs the push path of flavour api with short timers, as
// startPresence: lists at most every 100ms, deferrals from 200ms to 1s,
// a sync at most every second, the receiver "slow" giving up after
// timeout; HSS syncs in 300ms and scans in 250ms.
func startCatalog(t *testing.T, api string, opts hsstest.Options, timeout time.Duration) *catalogEnv {
	t.Helper()
	js := natstest.Start(t).JetStream()
	opts.SyncDelay = firstNonZero(opts.SyncDelay, 300*time.Millisecond)
	opts.ScanQueueDelay = firstNonZero(opts.ScanQueueDelay, 50*time.Millisecond)
	opts.ScanDuration = firstNonZero(opts.ScanDuration, 200*time.Millisecond)
	fake := tokenFake(opts)
	rec := &recorder{next: fake.Transport()}
	c := DefaultConfig()
	c.API = api
	c.CallsPerMinute, c.Burst, c.SyncInterval = 600, 10, time.Second
	auth, err := hssclient.StaticToken(hssclient.NewSecret(testToken))
	mustNot(t, err)
	c.Endpoint = "http://hss.test"
	h, err := newHSS(c, Options{Logger: testLogger(t)}, auth, &http.Client{Transport: rec})
	mustNot(t, err)
	h.presence.cfg.ListInterval = 100 * time.Millisecond
	h.presence.cfg.BackoffBase, h.presence.cfg.BackoffCap = 200*time.Millisecond, time.Second
	h.presence.cfg.Timeouts = map[string]time.Duration{"slow": timeout}

	lims := map[API]*countingLimiter{}
	all := map[API]ratelimit.Limiter{}
	for _, a := range APIs {
		l, err := ratelimit.NewAdaptive(c.rateConfig())
		mustNot(t, err)
		lims[a] = &countingLimiter{Limiter: l}
		all[a] = lims[a]
	}
	quota := NewQuota(all, nil)
	h.UseQuota(quota)

	store, err := lifecycle.Open(t.Context(), js, lifecycle.Config{})
	mustNot(t, err)
	pub, err := lifecycle.OpenPublisher(t.Context(), js, store, lifecycle.ResultsConfig{}, nil, nil)
	mustNot(t, err)
	h.UseLifecycle(store, pub)

	q, err := queue.Open(t.Context(), js, queue.Config{Consumer: queue.ConsumerConfig{
		MaxItems: 100, MaxItemsPerCall: 200, Linger: 50 * time.Millisecond, Heartbeat: time.Second,
		BackoffBase: 50 * time.Millisecond, BackoffCap: 200 * time.Millisecond, InfoInterval: 100 * time.Millisecond,
	}}, nil, nil)
	mustNot(t, err)
	cons := q.NewConsumer(h, queue.AllowTargets(testTarget))
	done := make(chan error, 1)
	go func() { done <- cons.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cons.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return &catalogEnv{t: t, api: api, fake: fake, rec: rec, h: h, quota: quota, lims: lims, q: q, store: store, pub: pub,
		js: js, hssTgt: hsstest.Target{Region: testTarget.Region, ProjectID: testTarget.ProjectID}}
}

// watcher is a watcher over the push path's catalog, as serve builds it.
func (e *catalogEnv) watcher() *Watcher {
	e.t.Helper()
	w, err := NewWatcher(WatchConfig{Interval: 50 * time.Millisecond, RescanAfter: time.Hour, ScanTimeout: 2 * time.Hour},
		WatcherDeps{Quota: e.quota, Catalog: e.h.Catalog(), Store: e.store, Finish: e.pub,
			Resend: NewJobStream(e.js, e.q.Config().Stream), Logger: testLogger(e.t)})
	mustNot(e.t, err)
	return w
}

// watch runs a watcher until the test ends.
func (e *catalogEnv) watch() {
	ctx, cancel := context.WithCancel(context.Background())
	w := e.watcher()
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

func (e *catalogEnv) job(namespace, image string) scanjob.Job {
	return scanjob.Job{Receiver: "slow", Registry: "harbor", Namespace: namespace, Image: image, Tag: "1", Target: testTarget}
}

func (e *catalogEnv) inSWR(j scanjob.Job, at time.Time) {
	e.fake.PushToSWR(e.hssTgt, string(j.Target.ImageType), j.Namespace, j.Image, j.Tag, "", at)
}

func (e *catalogEnv) publish(j scanjob.Job) {
	e.t.Helper()
	if _, err := e.q.Publish(e.t.Context(), j); err != nil {
		e.t.Fatal(err)
	}
}

func (e *catalogEnv) syncKnown(n int) {
	e.t.Helper()
	e.fake.Synchronize(e.hssTgt, string(testTarget.ImageType))
	natstest.Eventually(e.t, patience, "HSS to know the images in SWR", func() bool {
		known := 0
		for _, im := range e.fake.Catalog() {
			if im.Known {
				known++
			}
		}
		return known >= n
	})
}

func (e *catalogEnv) record(j scanjob.Job) lifecycle.Record {
	r, _, err := e.store.Get(e.t.Context(), lifecycle.KeyOf(j))
	if err != nil {
		return lifecycle.Record{}
	}
	return r
}

func (e *catalogEnv) calls(a API) int { return e.fake.Calls(hssAPIName(a)).Calls }

// checkQuota: every call the fake saw went under a permit of its own
// API's budget, and the flavour called none of the other flavour's APIs.
func (e *catalogEnv) checkQuota() {
	e.t.Helper()
	for _, a := range APIs {
		calls, permits := e.calls(a), e.lims[a].count()
		if calls > permits {
			e.t.Errorf("%s: %d calls under %d permits of its budget", a, calls, permits)
		}
		own := false
		for _, x := range flavourAPIs[e.api] {
			own = own || x == a
		}
		if !own && (calls > 0 || permits > 0) {
			e.t.Errorf("hss.api %s called %s %d times (%d permits): not its API", e.api, a, calls, permits)
		}
	}
}

func TestCatalogLateImageIsScannedOnce(t *testing.T) {
	for _, api := range catalogAPIs {
		for _, mode := range []struct {
			name string
			m    hsstest.UnknownMode
		}{{"silent 200", hsstest.UnknownImageSilent200}, {"400 HSS.0011", hsstest.UnknownImage400}} {
			t.Run(api+"/"+mode.name, func(t *testing.T) {
				e := startCatalog(t, api, hsstest.Options{UnknownImages: mode.m}, time.Minute)
				e.watch()
				late, now := e.job("team", "late"), e.job("team", "now")
				e.inSWR(now, time.Now().Add(-time.Second))
				e.syncKnown(1)
				e.publish(now)
				e.inSWR(late, time.Now().Add(1500*time.Millisecond))
				e.publish(late)

				natstest.Eventually(t, patience, "both images scanned, to the end", func() bool {
					return e.record(late).State == lifecycle.Scanned && e.record(now).State == lifecycle.Scanned
				})
				for _, j := range []scanjob.Job{late, now} {
					items := e.rec.items(j)
					if len(items) != 1 {
						t.Fatalf("%s named by %d accepted scan calls, want 1: %+v", j.Image, len(items), items)
					}
					if api == CatalogTasks {
						// The scan task names the image by everything
						// known of it: the list's id and its names.
						var id int64
						for _, im := range e.fake.Catalog() {
							if im.Ref.Image == j.Image {
								id = im.ID
							}
						}
						if it := items[0]; it.ID == 0 || it.ID != id || it.RegistryType != string(hssclient.RegistrySwrPrivate) {
							t.Errorf("scan task item %+v, want id %d and registry_type SwrPrivate", it, id)
						}
					}
					r := e.record(j)
					if r.ScanAttempts != 1 || r.HSS.ID == 0 || r.LastAnswer.API != hssAPIName(e.h.Catalog().ListAPI()) {
						t.Errorf("record of %s = %+v", j.Image, r)
					}
				}
				syncAPI := map[string]API{CatalogSWRv5: APISynchronize, CatalogTasks: APISyncTasks}[api]
				if e.calls(syncAPI) < 1 {
					t.Errorf("no %s call: the gate did not sync for the late image", syncAPI)
				}
				if r := e.record(late); r.PresenceChecks < 1 || r.SyncRequestedAt.IsZero() {
					t.Errorf("record of the late image = %+v", r)
				}
				e.checkQuota()
			})
		}
	}
}

func TestCatalogFailedScanEndsScanFailed(t *testing.T) {
	for _, api := range catalogAPIs {
		t.Run(api, func(t *testing.T) {
			e := startCatalog(t, api, hsstest.Options{}, time.Minute)
			e.watch()
			bad, good := e.job("team", "bad"), e.job("team", "good")
			e.inSWR(bad, time.Now().Add(-time.Second))
			e.inSWR(good, time.Now().Add(-time.Second))
			e.syncKnown(2)
			e.fake.FailScan(hsstest.Ref{Namespace: "team", Image: "bad", Tag: "1"}, hssclient.ScanFailedDownload)
			e.publish(bad)
			e.publish(good)
			natstest.Eventually(t, patience, "both results", func() bool {
				return e.record(bad).State == lifecycle.ScanFailed && e.record(good).State == lifecycle.Scanned
			})
			if r := e.record(bad); r.Reason != hssclient.ScanFailedDownload || r.ScanAttempts != 1 {
				t.Errorf("failed record = %+v, want reason %s after one attempt", r, hssclient.ScanFailedDownload)
			}
			for _, j := range []scanjob.Job{bad, good} {
				if n := len(e.rec.items(j)); n != 1 {
					t.Errorf("%s scanned %d times, want once", j.Image, n)
				}
			}
			e.checkQuota()
		})
	}
}

// TestCatalogUnknownImages: with the gate off, a scan naming an image HSS
// does not know is answered as the fake's mode says, for either flavour:
// HSS.0011 fails the call (Permanent, as before); a silent 200 is
// accepted and nothing is scanned (the watcher's rescan covers it).
func TestCatalogUnknownImages(t *testing.T) {
	for _, api := range catalogAPIs {
		for _, mode := range []struct {
			name     string
			m        hsstest.UnknownMode
			notFound bool
		}{{"silent 200", hsstest.UnknownImageSilent200, false}, {"400 HSS.0011", hsstest.UnknownImage400, true}} {
			t.Run(api+"/"+mode.name, func(t *testing.T) {
				fake := tokenFake(hsstest.Options{UnknownImages: mode.m})
				c := DefaultConfig()
				c.API, c.PresenceCheck = api, false
				h := newTestHSS(t, fake, c, testLogger(t))
				j := scanjob.Job{Receiver: "r", Registry: "harbor", Namespace: "team", Image: "unknown", Tag: "1",
					Target: testTarget, AcceptedAt: time.Now(), Digest: "sha256:" + strings.Repeat("ab", 32)}
				err := h.Scan(t.Context(), testTarget, []scanjob.Job{j})
				if got := hssclient.IsNotFound(err); got != mode.notFound || (!mode.notFound && err != nil) {
					t.Fatalf("Scan = %v, want not found %v", err, mode.notFound)
				}
				if mode.notFound {
					if v := h.Judge(err); v.Class != queue.Permanent || v.Code != "HSS.0011" {
						t.Errorf("Judge = %+v, want Permanent HSS.0011", v)
					}
				}
				if n := fake.Calls(hssAPIName(h.Catalog().ScanAPI())).Calls; n != 1 {
					t.Errorf("%d %s calls, want 1", n, h.Catalog().ScanAPI())
				}
				for _, im := range fake.Catalog() {
					if im.ScanStatus != "" && im.ScanStatus != "unscan" {
						t.Errorf("an unknown image was scanned: %+v", im)
					}
				}
				if api != CatalogTasks || mode.notFound {
					return
				}
				// The silent 200 made a task of nothing: the task list
				// says so (no image, none failed).
				page, err := h.Client().ListImageScanTask(t.Context(), hssTarget(testTarget),
					hssclient.ListTasksRequest{Type: hssclient.TaskImageScan, TaskType: "manual"})
				mustNot(t, err)
				if len(page.Tasks) != 1 || page.Tasks[0].TotalNum != 0 || len(page.Tasks[0].FailedImages) != 0 {
					t.Errorf("tasks = %+v, want one task of no image", page.Tasks)
				}
			})
		}
	}
}

// TestCatalogManyNamespacesCostOneListCallPerRound: 100 waiting images
// in 100 namespaces cost the gate one list call, and a watch round over
// their 100 records one list call.
func TestCatalogManyNamespacesCostOneListCallPerRound(t *testing.T) {
	for _, api := range catalogAPIs {
		t.Run(api, func(t *testing.T) {
			e := startCatalog(t, api, hsstest.Options{}, time.Minute)
			list := e.h.Catalog().ListAPI()
			var jobs []scanjob.Job
			for i := range 100 {
				j := e.job(fmt.Sprintf("ns%03d", i), "app")
				jobs = append(jobs, j)
				e.inSWR(j, time.Now().Add(-time.Second))
			}
			e.syncKnown(100)
			for _, j := range jobs {
				e.publish(j)
			}
			natstest.Eventually(t, patience, "every image scan_requested", func() bool {
				for _, j := range jobs {
					if e.record(j).State != lifecycle.ScanRequested {
						return false
					}
				}
				return true
			})
			if n := e.calls(list); n != 1 {
				t.Errorf("%d %s calls of the gate for 100 namespaces, want 1", n, list)
			}
			// Let HSS finish every scan, then one round settles them all.
			natstest.Eventually(t, patience, "HSS to finish the scans", func() bool {
				for _, im := range e.fake.Catalog() {
					if im.ScanStatus != "success" {
						return false
					}
				}
				return true
			})
			before := e.calls(list)
			n, err := e.watcher().Round(t.Context())
			mustNot(t, err)
			if n != 100 {
				t.Errorf("round watched %d records, want 100", n)
			}
			if d := e.calls(list) - before; d != 1 {
				t.Errorf("%d %s calls in one round of 100 namespaces, want 1", d, list)
			}
			for _, j := range jobs {
				if r := e.record(j); r.State != lifecycle.Scanned {
					t.Fatalf("%s is %s after the round, want scanned", j.Namespace, r.State)
				}
			}
			e.checkQuota()
		})
	}
}

// TestTaskCatalogFailedScans reads the failed images of the manual scan
// tasks, and only of tasks begun since the time asked for.
func TestTaskCatalogFailedScans(t *testing.T) {
	fake := tokenFake(hsstest.Options{ScanQueueDelay: -1, ScanDuration: -1, SyncDelay: -1})
	c := DefaultConfig()
	c.API, c.PresenceCheck = CatalogTasks, false
	h := newTestHSS(t, fake, c, testLogger(t))
	q, err := NewLocalQuota(ratelimit.Config{CallsPerMinute: 600, Burst: 10}, nil)
	mustNot(t, err)
	tgt := hsstest.Target{Region: testTarget.Region, ProjectID: testTarget.ProjectID}
	fake.PushToSWR(tgt, "private_image", "team", "bad", "1", "", time.Now().Add(-time.Second))
	fake.PushToSWR(tgt, "private_image", "team", "good", "1", "", time.Now().Add(-time.Second))
	fake.Synchronize(tgt, "private_image")
	fake.FailScan(hsstest.Ref{Namespace: "team", Image: "bad", Tag: "1"}, hssclient.ScanFailedDownload)
	call := Call{Quota: q, Priority: PriorityWatch}
	page, err := h.Catalog().List(t.Context(), hssTarget(testTarget), ListQuery{ImageType: hssclient.PrivateImage, Limit: 10}, call)
	mustNot(t, err)
	if len(page.Images) != 2 {
		t.Fatalf("listed %+v", page.Images)
	}
	before := time.Now().Add(-time.Second)
	jobs := []scanjob.Job{{Namespace: "team", Image: "bad", Tag: "1", Target: testTarget},
		{Namespace: "team", Image: "good", Tag: "1", Target: testTarget}}
	mustNot(t, h.Catalog().Scan(t.Context(), hssTarget(testTarget), hssclient.PrivateImage, jobs))

	tests := []struct {
		name  string
		since time.Time
		want  int
	}{
		{"tasks begun since before the scan", before, 1},
		{"tasks begun since after it", time.Now().Add(time.Minute), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Catalog().FailedScans(t.Context(), hssTarget(testTarget), tt.since, call)
			mustNot(t, err)
			if len(got) != tt.want {
				t.Fatalf("failed scans %+v, want %d", got, tt.want)
			}
			if tt.want == 1 && (got[0].Image.ImageName != "bad" || got[0].Image.FailedReason != hssclient.ScanFailedDownload ||
				got[0].Image.ID == 0) {
				t.Errorf("failed scan %+v", got[0])
			}
		})
	}
	// swr-v5 has no tasks: no call.
	if got, err := (swrV5{}).FailedScans(t.Context(), hssTarget(testTarget), before, call); got != nil || err != nil {
		t.Errorf("swr-v5 failed scans = %v, %v", got, err)
	}
}

func TestNewCatalogRefusesAnUnknownAPI(t *testing.T) {
	for _, tt := range []struct {
		api  string
		want string
	}{{"", CatalogSWRv5}, {"swr-v5", CatalogSWRv5}, {"tasks", CatalogTasks}, {"v6", ""}} {
		c, err := newCatalog(tt.api, nil, nil)
		switch {
		case tt.want == "" && (err == nil || !strings.Contains(err.Error(), "hss.api")):
			t.Errorf("newCatalog(%q) = %v, want an error naming hss.api", tt.api, err)
		case tt.want != "" && (err != nil || c.Name() != tt.want):
			t.Errorf("newCatalog(%q) = %v, %v, want %s", tt.api, c, err, tt.want)
		}
	}
}

// laggingList is a catalog whose image list shows a failed scan as still
// scanning: HSS's list lagging behind its task list (how far the two
// agree is undocumented).
type laggingList struct{ Catalog }

func (l laggingList) List(ctx context.Context, t hssclient.Target, q ListQuery, c Call) (hssclient.ImagePage, error) {
	page, err := l.Catalog.List(ctx, t, q, c)
	for i, im := range page.Images {
		if im.ScanStatus.IsTerminal() && im.ScanStatus != hssclient.ScanSuccess {
			page.Images[i].ScanStatus, page.Images[i].LatestScanTime = hssclient.ScanScanning, 0
		}
	}
	return page, err
}

// TestTheTaskListEndsAFailedScan: with hss.api tasks, an image the newest
// manual scan task reports failed ends scan_failed with the task's reason,
// even while the image list does not show the failure yet.
func TestTheTaskListEndsAFailedScan(t *testing.T) {
	e := startCatalog(t, CatalogTasks, hsstest.Options{}, time.Minute)
	bad := e.job("team", "bad")
	e.inSWR(bad, time.Now().Add(-time.Second))
	e.syncKnown(1)
	e.fake.FailScan(hsstest.Ref{Namespace: "team", Image: "bad", Tag: "1"}, hssclient.ScanFailedDownload)
	e.publish(bad)
	natstest.Eventually(t, patience, "the scan requested", func() bool { return e.record(bad).State == lifecycle.ScanRequested })

	w, err := NewWatcher(WatchConfig{Interval: 50 * time.Millisecond, RescanAfter: time.Hour, ScanTimeout: 2 * time.Hour},
		WatcherDeps{Quota: e.quota, Catalog: laggingList{e.h.Catalog()}, Store: e.store, Finish: e.pub,
			Resend: NewJobStream(e.js, e.q.Config().Stream), Logger: testLogger(t)})
	mustNot(t, err)
	w.taskEvery = 50 * time.Millisecond
	natstest.Eventually(t, patience, "scan_failed from the task list", func() bool {
		_, err := w.Round(t.Context())
		return err == nil && e.record(bad).State == lifecycle.ScanFailed
	})
	r := e.record(bad)
	if r.Reason != hssclient.ScanFailedDownload || r.LastAnswer.API != hssclient.APIListImageScanTask || r.HSS.ID == 0 {
		t.Errorf("record = %+v, want reason %s from %s", r, hssclient.ScanFailedDownload, hssclient.APIListImageScanTask)
	}
	if n := e.calls(APITasks); n < 1 {
		t.Errorf("%d ListImageScanTask calls", n)
	}
	e.checkQuota()
}

// sent is one request as it left the client.
type sent struct {
	method, path string
	query        url.Values
	body         []byte
}

// capture keeps every request the client sends.
type capture struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []sent
}

func (c *capture) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, sent{method: req.Method, path: req.URL.Path, query: req.URL.Query(), body: body})
	c.mu.Unlock()
	return c.next.RoundTrip(req)
}

// jsonKeys are the json names of a model's fields.
func jsonKeys(v any) map[string]bool {
	keys := map[string]bool{}
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		keys[name] = true
	}
	return keys
}

// TestTheTaskCatalogSendsTheSDKsShapes: every request hss.api tasks makes
// in its lifecycle has the SDK's shape. A body decodes strictly into the
// SDK's request model and encodes back to the same bytes; a query names
// only parameters of the SDK's request model; and the strict fake
// accepted each. (hssclient's sdk_apis_test.go proves, byte for byte with
// the SDK's own client, that these calls are sent as the SDK sends them.)
func TestTheTaskCatalogSendsTheSDKsShapes(t *testing.T) {
	fake := tokenFake(hsstest.Options{ScanQueueDelay: -1, ScanDuration: -1, SyncDelay: -1})
	cp := &capture{next: fake.Transport()}
	c := DefaultConfig()
	c.API = CatalogTasks
	c.Endpoint = "http://hss.test"
	auth, err := hssclient.StaticToken(hssclient.NewSecret(testToken))
	mustNot(t, err)
	h, err := newHSS(c, Options{Logger: testLogger(t)}, auth, &http.Client{Transport: cp})
	mustNot(t, err)
	q, err := NewLocalQuota(ratelimit.Config{CallsPerMinute: 600, Burst: 10}, nil)
	mustNot(t, err)
	call := Call{Quota: q, Priority: PriorityPush}
	tgt := hssTarget(testTarget)
	digest := "sha256:" + strings.Repeat("cd", 32)
	fake.PushToSWR(hsstest.Target{Region: testTarget.Region, ProjectID: testTarget.ProjectID}, "private_image", "team", "app", "1",
		digest, time.Now().Add(-time.Second))

	cat := h.Catalog()
	mustNot(t, cat.Sync(t.Context(), tgt, hssclient.PrivateImage, call))
	page, err := cat.List(t.Context(), tgt, ListQuery{ImageType: hssclient.PrivateImage, UpdatedSince: time.Now().Add(-time.Hour),
		Limit: 200}, call)
	mustNot(t, err)
	if len(page.Images) != 1 {
		t.Fatalf("listed %+v", page.Images)
	}
	_, err = cat.List(t.Context(), tgt, ListQuery{ImageType: hssclient.PrivateImage, ScanStatus: hssclient.ScanScanning,
		ScannedSince: time.Now().Add(-time.Hour), Offset: 200, Limit: 10}, call)
	mustNot(t, err)
	mustNot(t, cat.Scan(t.Context(), tgt, hssclient.PrivateImage, []scanjob.Job{
		{Namespace: "team", Image: "app", Tag: "1", Digest: digest, Target: testTarget},
		{Namespace: "team", Image: "other", Tag: "2", Target: testTarget}}))
	_, err = cat.FailedScans(t.Context(), tgt, time.Now().Add(-time.Hour), call)
	mustNot(t, err)

	bodies := map[string]any{
		"/image/image-scan/tasks": &model.CreateManualImageScanTaskReqInfo{},
		"/image/image-sync/tasks": &model.CreateImageSynchronizeTaskRequestInfo{},
	}
	queries := map[string]map[string]bool{
		"/image/image-scan/tasks":  jsonKeys(model.CreateManualImageScanTaskRequest{}),
		"/image/image-sync/tasks":  jsonKeys(model.CreateImageSynchronizeTaskRequest{}),
		"/image/registries/images": jsonKeys(model.ListRegistryImagesRequest{}),
		"/image/tasks":             jsonKeys(model.ListImageScanTaskRequest{}),
	}
	seen := map[string]int{}
	for _, r := range cp.reqs {
		_, path, ok := strings.Cut(strings.TrimPrefix(r.path, "/v5/"), "/")
		if !ok {
			t.Fatalf("path %s", r.path)
		}
		path = "/" + path
		seen[path]++
		keys, ok := queries[path]
		if !ok {
			t.Errorf("%s %s: not an API of hss.api tasks", r.method, r.path)
			continue
		}
		for k := range r.query {
			if !keys[k] {
				t.Errorf("%s %s: query %q is no parameter of the SDK's model", r.method, path, k)
			}
		}
		m, ok := bodies[path]
		if !ok {
			if len(r.body) != 0 {
				t.Errorf("%s %s has a body", r.method, path)
			}
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(m); err != nil {
			t.Errorf("%s body %s does not decode into the SDK's model: %v", path, r.body, err)
			continue
		}
		again, err := json.Marshal(m)
		mustNot(t, err)
		// The SDK's serializer ends the body with a newline, as hssclient
		// does (sdk_apis_test.go compares the bytes); json.Marshal does not.
		if !bytes.Equal(again, bytes.TrimSuffix(r.body, []byte("\n"))) {
			t.Errorf("%s body\n ours %s\n sdk  %s", path, r.body, again)
		}
	}
	for path := range queries {
		if seen[path] == 0 {
			t.Errorf("no request to %s", path)
		}
	}
	// The scan task named the listed image by its id and digest as well.
	var scan model.CreateManualImageScanTaskReqInfo
	for _, r := range cp.reqs {
		if strings.HasSuffix(r.path, "/image/image-scan/tasks") {
			mustNot(t, json.Unmarshal(r.body, &scan))
		}
	}
	if scan.ImageInfo == nil || len(*scan.ImageInfo) != 2 {
		t.Fatalf("scan task %+v", scan)
	}
	first, second := (*scan.ImageInfo)[0], (*scan.ImageInfo)[1]
	if first.Id == nil || *first.Id != page.Images[0].ID || first.ImageDigest == nil || *first.ImageDigest != digest ||
		first.RegistryType == nil || *first.RegistryType != "SwrPrivate" {
		t.Errorf("listed image as %+v, want id %d, the digest and SwrPrivate", first, page.Images[0].ID)
	}
	if second.Id != nil || second.RegistryType == nil || *second.RegistryType != "SwrPrivate" {
		t.Errorf("unlisted image as %+v, want no id and SwrPrivate", second)
	}
	if refused := fake.Refusals(); len(refused) != 0 {
		t.Errorf("the fake refused %+v", refused)
	}
}

// TestARefusedSyncTaskSaysWhatWasGuessed: that a sync task naming only a
// registry type is enough is unverified. Refused, the error keeps HSS's
// answer and names the guess.
func TestARefusedSyncTaskSaysWhatWasGuessed(t *testing.T) {
	fake := tokenFake(hsstest.Options{})
	fake.Inject(hsstest.Fault{APIs: []string{hsstest.APICreateImageSynchronizeTask}, Status: http.StatusBadRequest,
		ErrorCode: "HSS.0001", ErrorMsg: "Invalid parameter."})
	c := DefaultConfig()
	c.API = CatalogTasks
	h := newTestHSS(t, fake, c, testLogger(t))
	q, err := NewLocalQuota(ratelimit.Config{CallsPerMinute: 600, Burst: 10}, nil)
	mustNot(t, err)
	err = h.Catalog().Sync(t.Context(), hssTarget(testTarget), hssclient.PrivateImage, Call{Quota: q, Priority: PriorityPush})
	var ae *hssclient.APIError
	if !errors.As(err, &ae) || ae.ErrorCode != "HSS.0001" || !strings.Contains(err.Error(), "registry_id") ||
		!strings.Contains(err.Error(), "unverified") {
		t.Errorf("Sync = %v, want HSS's HSS.0001 naming the registry_id guess", err)
	}
}
