package scanner

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// The watcher on the real parts: an embedded NATS (lifecycle store,
// results stream, job stream, lease bucket), the fake HSS behind the real
// hssclient (signed with a static token, in process), the real quota.
// Time is real but short: the fake scans in a few hundred milliseconds and
// every wait is an Eventually on a state, never a duration asserted.

type watchEnv struct {
	t       *testing.T
	ns      *natstest.Server
	js      jetstream.JetStream
	fake    *hsstest.Fake
	hss     *HSS
	quota   *Quota
	store   *lifecycle.Store
	pub     *lifecycle.Publisher
	q       *queue.Queue
	events  chan *nats.Msg
	dead    *deadLetters
	target  scanjob.Target
	hssTgt  hsstest.Target
	counted *countingLister
}

// deadLetters records what the watcher dead-letters (the queue's
// DeadLetterJob, when the defer branch provides it, is wired in
// cmd/bridge).
type deadLetters struct {
	mu   sync.Mutex
	jobs []scanjob.Job
}

func (d *deadLetters) DeadLetter(_ context.Context, j scanjob.Job, reason, _ string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if reason == lifecycle.ReasonScanTimeout {
		d.jobs = append(d.jobs, j)
	}
	return nil
}

func (d *deadLetters) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.jobs)
}

// countingLister counts the list calls a watcher makes through the real
// client.
type countingLister struct {
	c     imageLister
	calls atomic.Int64
}

func (l *countingLister) ListSwrImageRepository(ctx context.Context, t hssclient.Target, r hssclient.ListImagesRequest) (hssclient.ImagePage, error) {
	l.calls.Add(1)
	return l.c.ListSwrImageRepository(ctx, t, r)
}

func newWatchEnv(t *testing.T, opts hsstest.Options) *watchEnv {
	t.Helper()
	ns := natstest.Start(t)
	js := ns.JetStream()
	ctx := t.Context()
	opts.ScanQueueDelay = firstNonZero(opts.ScanQueueDelay, 50*time.Millisecond)
	opts.ScanDuration = firstNonZero(opts.ScanDuration, 200*time.Millisecond)
	opts.SyncDelay = firstNonZero(opts.SyncDelay, -1)
	fake := tokenFake(opts)
	c := DefaultConfig()
	c.CallsPerMinute, c.Burst = 600, 100 // the quota's pacing is tested on its own
	h := newTestHSS(t, fake, c, nil)
	q, err := NewLocalQuota(c.rateConfig(), nil)
	mustNot(t, err)
	h.UseQuota(q)
	store, err := lifecycle.Open(ctx, js, lifecycle.Config{})
	mustNot(t, err)
	pub, err := lifecycle.OpenPublisher(ctx, js, store, lifecycle.ResultsConfig{}, nil, nil)
	mustNot(t, err)
	jq, err := queue.Open(ctx, js, queue.Config{}, nil, nil)
	mustNot(t, err)
	events := make(chan *nats.Msg, 64)
	sub, err := ns.Connect().ChanSubscribe("scanbridge.results.>", events)
	mustNot(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return &watchEnv{t: t, ns: ns, js: js, fake: fake, hss: h, quota: q, store: store, pub: pub, q: jq,
		events: events, dead: &deadLetters{}, target: testTarget,
		hssTgt:  hsstest.Target{Region: testTarget.Region, ProjectID: testTarget.ProjectID},
		counted: &countingLister{c: h.Client()}}
}

func firstNonZero(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func (e *watchEnv) watcher(cfg WatchConfig) *Watcher {
	e.t.Helper()
	if cfg.RescanAfter == 0 {
		cfg.RescanAfter = time.Hour
	}
	if cfg.ScanTimeout == 0 {
		cfg.ScanTimeout = 2 * time.Hour
	}
	w, err := NewWatcher(cfg, WatcherDeps{Quota: e.quota, Client: e.counted, Store: e.store, Finish: e.pub,
		Resend: NewJobStream(e.js, e.q.Config().Stream), Dead: e.dead})
	mustNot(e.t, err)
	return w
}

// inSWR puts the tag in SWR and makes HSS know it at once.
func (e *watchEnv) inSWR(tag string) {
	e.fake.PushToSWR(e.hssTgt, "private_image", "team", "app", tag, "", time.Now().Add(-time.Second))
	e.fake.Synchronize(e.hssTgt, "private_image")
}

// requestScan sends the batch-scan and writes the record as the push path
// does: scan_requested at the time of the request.
func (e *watchEnv) requestScan(tag string, requestedAt time.Time) lifecycle.Record {
	e.t.Helper()
	j := job(tag)
	j.Receiver, j.AcceptedAt = "harbor", requestedAt.Add(-time.Second)
	err := e.hss.Send(e.t.Context(), hssTarget(testTarget), hssclient.TargetedScan(hssclient.PrivateImage,
		hssclient.ImageInfo{Namespace: j.Namespace, ImageName: j.Image, ImageVersion: j.Tag}))
	mustNot(e.t, err)
	r := lifecycle.NewRecord(j)
	r.State, r.ScanRequestedAt, r.ScanAttempts = lifecycle.ScanRequested, requestedAt, 1
	r.History = []lifecycle.Transition{{State: lifecycle.ScanRequested, At: requestedAt}}
	rec, err := e.store.Create(e.t.Context(), r)
	mustNot(e.t, err)
	return rec
}

// untilState runs rounds of w until the record is in state.
func (e *watchEnv) untilState(w *Watcher, key string, want lifecycle.State) lifecycle.Record {
	e.t.Helper()
	var rec lifecycle.Record
	natstest.Eventually(e.t, 20*time.Second, "record in "+string(want), func() bool {
		if _, err := w.Round(e.t.Context()); err != nil {
			e.t.Logf("round: %v", err)
		}
		var err error
		rec, _, err = e.store.Get(e.t.Context(), key)
		return err == nil && rec.State == want
	})
	return rec
}

// drainEvents returns the result events received so far.
func (e *watchEnv) drainEvents() []lifecycle.Event {
	var out []lifecycle.Event
	for {
		select {
		case m := <-e.events:
			var ev lifecycle.Event
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				e.t.Fatalf("result event %s: %v", m.Data, err)
			}
			out = append(out, ev)
		case <-time.After(200 * time.Millisecond):
			return out
		}
	}
}

func TestWatcherFollowsScansToTheirResult(t *testing.T) {
	tests := []struct {
		name       string
		fail       string // scan_failed_desc the fake fails the scan with
		want       lifecycle.State
		wantReason string
	}{
		{"success", "", lifecycle.Scanned, ""},
		{"failed at HSS", "failed_to_scan_vulnerability", lifecycle.ScanFailed, "failed_to_scan_vulnerability"},
		{"download failed", "download_failed", lifecycle.ScanFailed, "download_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newWatchEnv(t, hsstest.Options{ScanDuration: time.Second})
			e.inSWR("v1")
			if tt.fail != "" {
				e.fake.FailScan(hsstest.Ref{Namespace: "team", Image: "app", Tag: "v1"}, tt.fail)
			}
			rec := e.requestScan("v1", time.Now())
			w := e.watcher(WatchConfig{})
			// Seen scanning first: the scan takes a second, a round a few
			// milliseconds, and scanning rows are read before the rescan
			// check only; here the time window shows the row once done.
			got := e.untilState(w, rec.Key, tt.want)
			if got.Reason != tt.wantReason {
				t.Errorf("reason %q, want %q", got.Reason, tt.wantReason)
			}
			if tt.want == lifecycle.Scanned && got.HSS.Vulnerabilities == 0 && got.HSS.ID == 0 {
				t.Errorf("scanned record without HSS's facts: %+v", got.HSS)
			}
			// More rounds, and a new watcher (a restart): nothing more.
			for range 3 {
				_, err := w.Round(t.Context())
				mustNot(t, err)
			}
			_, err := e.watcher(WatchConfig{}).Round(t.Context())
			mustNot(t, err)
			evs := e.drainEvents()
			if len(evs) != 1 {
				t.Fatalf("%d result events, want exactly 1: %+v", len(evs), evs)
			}
			if evs[0].Data.Status != tt.want || evs[0].Data.Reason != tt.wantReason {
				t.Errorf("event status %s reason %q, want %s %q", evs[0].Data.Status, evs[0].Data.Reason, tt.want, tt.wantReason)
			}
			if st := e.fake.Calls(hsstest.APIBatchScan); st.Calls-st.Refused-st.Throttled != 1 {
				n := st.Calls - st.Refused - st.Throttled
				t.Errorf("%d batch-scans accepted, want 1 (the watcher asks for no scan)", n)
			}
		})
	}
}

func TestWatcherIgnoresThePreviousResult(t *testing.T) {
	e := newWatchEnv(t, hsstest.Options{ScanDuration: 500 * time.Millisecond})
	e.inSWR("v1")
	// A first scan ends in success...
	first := e.requestScan("v1", time.Now())
	w := e.watcher(WatchConfig{})
	e.untilState(w, first.Key, lifecycle.Scanned)
	e.drainEvents()
	// ...then the image is pushed again and this scan will fail. The
	// list shows the old success until the new scan runs: it must not end
	// the new lifecycle.
	_, err := e.store.Update(t.Context(), first.Key, func(r *lifecycle.Record) error {
		r.SetState(lifecycle.Accepted, "pushed again")
		return nil
	})
	mustNot(t, err)
	e.fake.FailScan(hsstest.Ref{Namespace: "team", Image: "app", Tag: "v1"}, "failed_to_scan_file")
	requested := time.Now().Add(50 * time.Millisecond) // after the old result's scan time
	time.Sleep(60 * time.Millisecond)
	_, err = e.store.Update(t.Context(), first.Key, func(r *lifecycle.Record) error {
		r.SetState(lifecycle.ScanRequested, "scan requested")
		r.ScanRequestedAt = requested
		return nil
	})
	mustNot(t, err)
	// A round before HSS got the new scan request: the old success is in
	// the window but older than the request.
	_, err = w.Round(t.Context())
	mustNot(t, err)
	if rec, _, _ := e.store.Get(t.Context(), first.Key); rec.State != lifecycle.ScanRequested {
		t.Fatalf("the previous scan's result ended the new attempt: %s", rec.State)
	}
	mustNot(t, e.hss.Send(t.Context(), hssTarget(testTarget), hssclient.TargetedScan(hssclient.PrivateImage,
		hssclient.ImageInfo{Namespace: "team", ImageName: "app", ImageVersion: "v1"})))
	got := e.untilState(w, first.Key, lifecycle.ScanFailed)
	if got.Reason != "failed_to_scan_file" || got.Generation != 2 {
		t.Errorf("reason %q generation %d, want failed_to_scan_file, 2", got.Reason, got.Generation)
	}
	if evs := e.drainEvents(); len(evs) != 1 || evs[0].Data.Status != lifecycle.ScanFailed {
		t.Errorf("events of the second lifecycle: %+v, want one scan_failed", evs)
	}
}

func TestWatcherSendsASilentlyDroppedScanAgain(t *testing.T) {
	// The image is not in SWR: the fake accepts the batch-scan with 200
	// and scans nothing (UnknownImageSilent200), as HSS may.
	e := newWatchEnv(t, hsstest.Options{UnknownImages: hsstest.UnknownImageSilent200})
	rec := e.requestScan("ghost", time.Now().Add(-2*time.Second))
	cfg := WatchConfig{RescanAfter: time.Second, ScanTimeout: time.Hour}
	w := e.watcher(cfg)
	got := e.untilState(w, rec.Key, lifecycle.WaitingPresence)
	if got.Generation != rec.Generation {
		t.Errorf("generation %d, want %d: a rescan continues the lifecycle", got.Generation, rec.Generation)
	}
	st, err := e.js.Stream(t.Context(), e.q.Config().Stream.Name)
	mustNot(t, err)
	msg, err := st.GetLastMsgForSubject(t.Context(), e.q.Config().Stream.SubjectPrefix+".>")
	mustNot(t, err)
	wantID := RescanMsgID(rec.JobID, rec.ScanRequestedAt)
	if id := msg.Header.Get(jetstream.MsgIDHeader); id != wantID {
		t.Errorf("job sent again with msg id %q, want %q", id, wantID)
	}
	var j scanjob.Job
	mustNot(t, json.Unmarshal(msg.Data, &j))
	if j.ID() != rec.JobID || !j.AcceptedAt.Equal(rec.AcceptedAt) {
		t.Errorf("job sent again: id %s accepted %s, want %s %s", j.ID(), j.AcceptedAt, rec.JobID, rec.AcceptedAt)
	}

	// A watcher that crashed after publishing and before moving the
	// record publishes again under the same id: stored once.
	mustNot(t, NewJobStream(e.js, e.q.Config().Stream).Resend(t.Context(), rec.Job(), wantID))
	// And the record, now waiting for presence, is not watched: more
	// rounds of a new watcher send nothing.
	_, err = e.watcher(cfg).Round(t.Context())
	mustNot(t, err)
	info, err := st.Info(t.Context())
	mustNot(t, err)
	if info.State.Msgs != 1 {
		t.Errorf("%d jobs in the stream, want the one sent again", info.State.Msgs)
	}
	if evs := e.drainEvents(); len(evs) != 0 {
		t.Errorf("result events for a rescan: %+v", evs)
	}
}

func TestWatcherDoesNotResendAScanHSSIsRunning(t *testing.T) {
	// A first scan: no scan time yet, so the time window cannot show it;
	// the check before a rescan (scan_status=scanning) does.
	e := newWatchEnv(t, hsstest.Options{ScanDuration: time.Hour})
	e.inSWR("slow")
	rec := e.requestScan("slow", time.Now().Add(-2*time.Second))
	w := e.watcher(WatchConfig{RescanAfter: time.Second, ScanTimeout: 2 * time.Hour})
	e.untilState(w, rec.Key, lifecycle.Scanning)
	st, err := e.js.Stream(t.Context(), e.q.Config().Stream.Name)
	mustNot(t, err)
	info, err := st.Info(t.Context())
	mustNot(t, err)
	if info.State.Msgs != 0 {
		t.Errorf("%d jobs sent again for a scan HSS shows running", info.State.Msgs)
	}
}

func TestWatcherGivesUpAfterTheScanTimeout(t *testing.T) {
	e := newWatchEnv(t, hsstest.Options{})
	rec := e.requestScan("never", time.Now().Add(-3*time.Minute))
	w := e.watcher(WatchConfig{RescanAfter: time.Hour, ScanTimeout: 2 * time.Hour})
	_, err := w.Round(t.Context())
	mustNot(t, err)
	if got, _, _ := e.store.Get(t.Context(), rec.Key); got.State != lifecycle.ScanRequested {
		t.Fatalf("given up before the timeout: %s", got.State)
	}
	w = e.watcher(WatchConfig{RescanAfter: time.Minute, ScanTimeout: 2 * time.Minute})
	got := e.untilState(w, rec.Key, lifecycle.GivenUp)
	if got.Reason != lifecycle.ReasonScanTimeout {
		t.Errorf("reason %q, want scan_timeout", got.Reason)
	}
	_, err = e.watcher(WatchConfig{RescanAfter: time.Minute, ScanTimeout: 2 * time.Minute}).Round(t.Context())
	mustNot(t, err)
	if n := e.dead.count(); n != 1 {
		t.Errorf("%d dead letters, want 1", n)
	}
	if evs := e.drainEvents(); len(evs) != 1 || evs[0].Data.Status != lifecycle.GivenUp {
		t.Errorf("events: %+v, want one given_up", evs)
	}
}

func TestOnlyTheLeaseHolderWatches(t *testing.T) {
	e := newWatchEnv(t, hsstest.Options{ScanDuration: time.Hour})
	e.inSWR("v1")
	e.requestScan("v1", time.Now())
	kv, err := e.js.CreateOrUpdateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "WATCH_LEASE_TEST"})
	mustNot(t, err)

	type replica struct {
		lease  *Lease
		lister *countingLister
		stop   context.CancelFunc
		done   chan struct{}
	}
	start := func(name string) *replica {
		// Each replica has its own connection, as a process does.
		rkv, err := e.ns.JetStream().KeyValue(t.Context(), "WATCH_LEASE_TEST")
		mustNot(t, err)
		r := &replica{lease: NewLease(rkv, "watch", 600*time.Millisecond, name, nil),
			lister: &countingLister{c: e.hss.Client()}, done: make(chan struct{})}
		records, err := e.ns.JetStream().KeyValue(t.Context(), lifecycle.DefaultBucket)
		mustNot(t, err)
		w, err := NewWatcher(WatchConfig{Interval: 50 * time.Millisecond, RescanAfter: time.Hour, ScanTimeout: 2 * time.Hour},
			WatcherDeps{Quota: e.quota, Client: r.lister, Store: e.store, Records: records, Finish: e.pub,
				Resend: NewJobStream(e.js, e.q.Config().Stream)})
		mustNot(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		r.stop = cancel
		go func() {
			defer close(r.done)
			r.lease.Run(ctx, w.Run)
		}()
		return r
	}
	a, b := start("a"), start("b")
	natstest.Eventually(t, 10*time.Second, "one replica polling", func() bool {
		return a.lister.calls.Load()+b.lister.calls.Load() >= 3
	})
	holder, other := a, b
	if b.lease.Held() {
		holder, other = b, a
	}
	if !holder.lease.Held() || other.lease.Held() {
		t.Fatalf("lease held by a: %v, b: %v; want exactly one", a.lease.Held(), b.lease.Held())
	}
	if n := other.lister.calls.Load(); n != 0 {
		t.Fatalf("the replica without the lease made %d list calls", n)
	}
	// The holder stops: the other takes over and polls.
	holder.stop()
	<-holder.done
	before := other.lister.calls.Load()
	natstest.Eventually(t, 10*time.Second, "the other replica polling", func() bool {
		return other.lease.Held() && other.lister.calls.Load() > before
	})
	other.stop()
	<-other.done
	_ = kv
}

func TestLeaseIsTakenOverWhenTheHolderDies(t *testing.T) {
	ns := natstest.Start(t)
	kvOf := func(nc *nats.Conn) jetstream.KeyValue {
		js, err := jetstream.New(nc)
		mustNot(t, err)
		kv, err := js.CreateOrUpdateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "LEASE_TEST"})
		mustNot(t, err)
		return kv
	}
	ncA := ns.Connect()
	a := NewLease(kvOf(ncA), "watch", 400*time.Millisecond, "a", nil)
	b := NewLease(kvOf(ns.Connect()), "watch", 400*time.Millisecond, "b", nil)
	var runsA, runsB atomic.Int64
	var both atomic.Bool
	run := func(l, other *Lease, n *atomic.Int64) func(context.Context) {
		return func(ctx context.Context) {
			n.Add(1)
			for ctx.Err() == nil {
				if other.Held() && l.Held() {
					both.Store(true)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	ctxA, stopA := context.WithCancel(t.Context())
	defer stopA()
	go a.Run(ctxA, run(a, b, &runsA))
	natstest.Eventually(t, 5*time.Second, "a holds the lease", a.Held)
	ctxB, stopB := context.WithCancel(t.Context())
	defer stopB()
	doneB := make(chan struct{})
	go func() { defer close(doneB); b.Run(ctxB, run(b, a, &runsB)) }()
	// a dies without a word: its connection is gone, it cannot renew or
	// give up. It stops on its own, and b takes over after the TTL.
	ncA.Close()
	natstest.Eventually(t, 10*time.Second, "b holds the lease", b.Held)
	natstest.Eventually(t, 5*time.Second, "a stopped", func() bool { return !a.Held() })
	if both.Load() {
		t.Error("both replicas held the lease at once")
	}
	if runsB.Load() != 1 {
		t.Errorf("b ran the watch %d times, want 1", runsB.Load())
	}
	stopB()
	<-doneB
}

func TestAnHSS401MakesTheBridgeNotReady(t *testing.T) {
	e := newWatchEnv(t, hsstest.Options{})
	e.inSWR("v1")
	rec := e.requestScan("v1", time.Now())
	if err := e.quota.Health().Ready(t.Context()); err != nil {
		t.Fatalf("ready before any refusal: %v", err)
	}
	// The list API refuses the credentials: not ready, with the reason.
	e.fake.Inject(hsstest.Fault{Times: 1, Status: http.StatusUnauthorized, APIs: []string{hsstest.APIListSwrImageRepository}})
	w := e.watcher(WatchConfig{})
	if _, err := w.Round(t.Context()); err == nil {
		t.Fatal("round with a 401: no error")
	}
	err := e.quota.Health().Ready(t.Context())
	if err == nil {
		t.Fatal("ready after a 401")
	}
	t.Logf("readyz says: %v", err)
	// A later call that succeeds makes it ready again.
	_, err = w.Round(t.Context())
	mustNot(t, err)
	if err := e.quota.Health().Ready(t.Context()); err != nil {
		t.Errorf("not ready after a successful call: %v", err)
	}
	_ = rec
}

func TestOneListCallAnswersForImagesAcrossNamespaces(t *testing.T) {
	e := newWatchEnv(t, hsstest.Options{ScanDuration: 300 * time.Millisecond})
	var keys []string
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		for _, tag := range []string{"v1", "v2"} {
			e.fake.PushToSWR(e.hssTgt, "private_image", ns, "app", tag, "", time.Now().Add(-time.Second))
		}
	}
	e.fake.Synchronize(e.hssTgt, "private_image")
	requested := time.Now()
	var infos []hssclient.ImageInfo
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		for _, tag := range []string{"v1", "v2"} {
			infos = append(infos, hssclient.ImageInfo{Namespace: ns, ImageName: "app", ImageVersion: tag})
			j := scanjob.Job{Receiver: "harbor", Namespace: ns, Image: "app", Tag: tag, Target: testTarget, AcceptedAt: requested}
			r := lifecycle.NewRecord(j)
			r.State, r.ScanRequestedAt, r.ScanAttempts = lifecycle.ScanRequested, requested, 1
			rec, err := e.store.Create(t.Context(), r)
			mustNot(t, err)
			keys = append(keys, rec.Key)
		}
	}
	mustNot(t, e.hss.Send(t.Context(), hssTarget(testTarget), hssclient.TargetedScan(hssclient.PrivateImage, infos...)))
	// Let every scan end, then one round must finish all six with one call.
	natstest.Eventually(t, 10*time.Second, "every scan done at HSS", func() bool {
		page, err := e.hss.Client().ListSwrImageRepository(t.Context(), hssTarget(testTarget), hssclient.ListImagesRequest{
			ImageType: hssclient.PrivateImage, ScanStatus: hssclient.ScanSuccess, Limit: 200})
		return err == nil && len(page.Images) == 6
	})
	w := e.watcher(WatchConfig{})
	before := e.counted.calls.Load()
	_, err := w.Round(t.Context())
	mustNot(t, err)
	if n := e.counted.calls.Load() - before; n != 1 {
		t.Errorf("%d list calls for 6 images in 3 namespaces, want 1", n)
	}
	for _, k := range keys {
		if rec, _, _ := e.store.Get(t.Context(), k); rec.State != lifecycle.Scanned {
			t.Errorf("%s: %s, want scanned", k, rec.State)
		}
	}
	evs := e.drainEvents()
	seen := map[string]int{}
	for _, ev := range evs {
		seen[ev.Data.Key]++
	}
	if len(evs) != 6 || len(seen) != 6 {
		t.Errorf("%d events for %d images, want one per image (6)", len(evs), len(seen))
	}
}

// TestWatcherRunFollowsTheBucket runs the watcher as serve does: records
// from one watch of the lifecycle bucket, rounds until ctx ends.
func TestWatcherRunFollowsTheBucket(t *testing.T) {
	e := newWatchEnv(t, hsstest.Options{ScanDuration: 300 * time.Millisecond})
	e.inSWR("v1")
	e.inSWR("v2")
	a := e.requestScan("v1", time.Now())
	records, err := e.js.KeyValue(t.Context(), lifecycle.DefaultBucket)
	mustNot(t, err)
	w, err := NewWatcher(WatchConfig{Interval: 50 * time.Millisecond, RescanAfter: time.Hour, ScanTimeout: 2 * time.Hour},
		WatcherDeps{Quota: e.quota, Client: e.counted, Store: e.store, Records: records, Finish: e.pub,
			Resend: NewJobStream(e.js, e.q.Config().Stream)})
	mustNot(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	scanned := func(key string) func() bool {
		return func() bool {
			r, _, err := e.store.Get(t.Context(), key)
			return err == nil && r.State == lifecycle.Scanned
		}
	}
	natstest.Eventually(t, 20*time.Second, "v1 scanned", scanned(a.Key))
	// A record written while the watcher runs reaches it through the watch.
	b := e.requestScan("v2", time.Now())
	natstest.Eventually(t, 20*time.Second, "v2 scanned", scanned(b.Key))
	if evs := e.drainEvents(); len(evs) != 2 {
		t.Errorf("%d result events for 2 images, want 2", len(evs))
	}
}

func TestWatchConfigCheck(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*WatchConfig)
		wantErr bool
	}{
		{"defaults", func(*WatchConfig) {}, false},
		{"timeout after rescan", func(c *WatchConfig) { c.RescanAfter, c.ScanTimeout = 5*time.Minute, 6*time.Minute }, false},
		{"timeout equal to rescan", func(c *WatchConfig) { c.RescanAfter, c.ScanTimeout = 10*time.Minute, 10*time.Minute }, true},
		{"timeout before rescan", func(c *WatchConfig) { c.ScanTimeout = 5 * time.Minute }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultWatchConfig()
			tt.mutate(&c)
			err := c.Check()
			if (err != nil) != tt.wantErr {
				t.Errorf("Check() = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "hss.watch.scan_timeout") {
				t.Errorf("error %q does not name the setting", err)
			}
		})
	}
}
