package schedules

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
	"github.com/scan-bridge/scan-bridge/scanner"
)

// noKV is a KeyValue for tests that never reach the bucket.
type noKV struct{ jetstream.KeyValue }

// sendFunc is a FullScanner for tests that never send.
type sendFunc func(context.Context, hssclient.Target, hssclient.BatchScanRequest) error

func (f sendFunc) Send(ctx context.Context, t hssclient.Target, r hssclient.BatchScanRequest) error {
	return f(ctx, t, r)
}

const (
	testAK      = "AKSCHEDULES0000000000"
	testSK      = "secret-key-of-the-schedules-tests"
	testProject = "0123456789abcdef0123456789abcdef"
)

// hssSender is the real HSS client against the strict fake, as the
// FullScanner (the bridge passes scanner.HSS.Send, which adds the permit).
type hssSender struct{ c *hssclient.Client }

func (h hssSender) Send(ctx context.Context, t hssclient.Target, r hssclient.BatchScanRequest) error {
	return h.c.BatchScan(ctx, t, r)
}

func newFakeHSS(t *testing.T) (*hsstest.Fake, FullScanner) {
	t.Helper()
	fake := hsstest.New(hsstest.Options{AccessKeys: map[string]hsstest.Key{testAK: {SecretKey: testSK}}})
	t.Cleanup(fake.Close)
	s, err := hssclient.NewSigner(hssclient.Credentials{AccessKey: testAK, SecretKey: hssclient.NewSecret(testSK)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := hssclient.New(hssclient.Config{Auth: s, Endpoint: "http://hss.test"},
		hssclient.WithHTTPClient(&http.Client{Transport: fake.Transport()}))
	if err != nil {
		t.Fatal(err)
	}
	return fake, hssSender{c}
}

func openKV(t *testing.T, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	kv, err := OpenBucket(t.Context(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

var target = scanjob.Target{Region: "cn-north-4", ProjectID: testProject, ImageType: scanjob.PrivateImage}

func TestAFireRunsOnceAcrossReplicas(t *testing.T) {
	srv := natstest.Start(t)
	fake, hss := newFakeHSS(t)
	c := Config{Name: "nightly", Cron: "0 3 * * *", Action: ActionFullScan, FullScan: FullScan{Target: target}}
	var scheds []*Schedule
	for _, replica := range []string{"replica-a", "replica-b"} {
		// Each replica has its own connection, as two processes would.
		s, err := New(c, Deps{KV: openKV(t, srv.JetStream()), Scanner: hss, Replica: replica, Metrics: NewMetrics(nil)})
		if err != nil {
			t.Fatal(err)
		}
		scheds = append(scheds, s)
	}
	fire := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		runs []string
	)
	for _, s := range scheds {
		wg.Go(func() {
			lr, ran, err := s.Fire(t.Context(), fire)
			if err != nil {
				t.Error(err)
			}
			if ran {
				mu.Lock()
				runs = append(runs, lr.Replica)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(runs) != 1 {
		t.Fatalf("the fire ran on %v; want exactly one replica", runs)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Fatalf("HSS got %d batch-scans, want 1", n)
	}
	// A replica that fires it again (a restart within the claim's TTL)
	// does not run it; the next fire is a new claim.
	if _, ran, _ := scheds[0].Fire(t.Context(), fire); ran {
		t.Fatal("a claimed fire ran again")
	}
	if _, ran, err := scheds[1].Fire(t.Context(), scheds[1].Next(fire)); !ran || err != nil {
		t.Fatalf("the next fire: ran %v, %v", ran, err)
	}
	lr, ok, err := ReadLastRun(t.Context(), scheds[0].d.KV, "nightly")
	if err != nil || !ok || lr.Result != ResultOK || !lr.Fire.Equal(fire.Add(24*time.Hour)) || lr.Replica != "replica-b" {
		t.Fatalf("last run %+v, %v, %v", lr, ok, err)
	}
}

func TestFullScanSendsOneOperateAllWithTheFilters(t *testing.T) {
	srv := natstest.Start(t)
	fake, hss := newFakeHSS(t)
	c := Config{Name: "weekly-unscanned", Cron: "@weekly", Action: ActionFullScan, FullScan: FullScan{
		Target:    scanjob.Target{Region: "cn-north-4", ProjectID: testProject, EnterpriseProjectID: "eps-1", ImageType: scanjob.SharedImage},
		Namespace: "team", ImageName: "app", ScanStatus: "unscan", LatestVersion: true}}
	s, err := New(c, Deps{KV: openKV(t, srv.JetStream()), Scanner: hss, Replica: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ran, err := s.Fire(t.Context(), time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)); !ran || err != nil {
		t.Fatalf("ran %v, %v", ran, err)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("HSS got %d requests, want 1", len(reqs))
	}
	b := reqs[0].Body
	str := func(p *string) string {
		if p == nil {
			return "<absent>"
		}
		return *p
	}
	got := fmt.Sprintf("operate_all=%v image_type=%s namespace=%s image_name=%s scan_status=%s latest_version=%v list=%v image_version=%s eps=%s",
		b.OperateAll != nil && *b.OperateAll, str(b.ImageType), str(b.Namespace), str(b.ImageName), str(b.ScanStatus),
		b.LatestVersion != nil && *b.LatestVersion, b.ImageInfoList != nil, str(b.ImageVersion), reqs[0].Target.EnterpriseProjectID)
	want := "operate_all=true image_type=shared_image namespace=team image_name=app scan_status=unscan latest_version=true list=false image_version=<absent> eps=eps-1"
	if got != want {
		t.Fatalf("request\n got %s\nwant %s", got, want)
	}
}

func TestAFailedFullScanIsRecorded(t *testing.T) {
	srv := natstest.Start(t)
	c := Config{Name: "x", Cron: "@daily", Action: ActionFullScan, FullScan: FullScan{Target: target}}
	s, err := New(c, Deps{KV: openKV(t, srv.JetStream()), Replica: "r",
		Scanner: sendFunc(func(context.Context, hssclient.Target, hssclient.BatchScanRequest) error {
			return fmt.Errorf("hss said no")
		})})
	if err != nil {
		t.Fatal(err)
	}
	lr, ran, err := s.Fire(t.Context(), time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	if !ran || err == nil || lr.Result != ResultFailed || !strings.Contains(lr.Error, "hss said no") {
		t.Fatalf("ran %v, err %v, last %+v", ran, err, lr)
	}
}

func TestRescanSendsOnlyOldScansJobsUnderTheScheduleMsgID(t *testing.T) {
	srv := natstest.Start(t)
	js := srv.JetStream()
	ctx := t.Context()
	store, err := lifecycle.Open(ctx, js, lifecycle.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "JOBS", Subjects: []string{"jobs.>"}}); err != nil {
		t.Fatal(err)
	}
	fire := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	digest := func(i int) string { return fmt.Sprintf("sha256:%064x", i) }
	recs := []struct {
		ns, image string
		state     lifecycle.State
		finished  time.Time
		hssAt     time.Time
		want      bool
	}{
		{"team-a", "old", lifecycle.Scanned, fire.Add(-40 * day), time.Time{}, true},
		{"team-a", "old-by-hss", lifecycle.Scanned, fire.Add(-1 * day), fire.Add(-31 * day), true}, // HSS's scan time counts
		{"team-b", "failed-long-ago", lifecycle.ScanFailed, fire.Add(-35 * day), time.Time{}, true},
		{"team-a", "fresh", lifecycle.Scanned, fire.Add(-2 * day), time.Time{}, false},
		{"team-a", "given-up", lifecycle.GivenUp, fire.Add(-50 * day), time.Time{}, false},
		{"team-a", "in-progress", lifecycle.ScanRequested, time.Time{}, time.Time{}, false},
		{"other", "old-elsewhere", lifecycle.Scanned, fire.Add(-60 * day), time.Time{}, false}, // not in the namespaces
	}
	wantIDs := map[string]string{}
	for i, r := range recs {
		j := scanjob.Job{Receiver: "ci", Registry: "harbor", Namespace: r.ns, Image: r.image, Tag: "1.0", Digest: digest(i), Target: target,
			RequestID: "push-1", AcceptedAt: fire.Add(-90 * day)}
		rec := lifecycle.NewRecord(j)
		rec.State, rec.FinishedAt, rec.HSS.ScannedAt = r.state, r.finished, r.hssAt
		if _, err := store.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if r.want {
			wantIDs[r.image] = RescanMsgID(j.ID(), fire)
		}
	}
	c := Config{Name: "monthly-rescan", Cron: "0 4 * * *", Action: ActionRescanOlderThan,
		Rescan: Rescan{Age: 30 * day, Namespaces: []string{"team-*"}}}
	s, err := New(c, Deps{KV: openKV(t, js), Records: store, Resender: scanner.NewJobStream(js, queue.StreamConfig{Name: "JOBS", SubjectPrefix: "jobs"}), Replica: "r",
		Now: func() time.Time { return fire.Add(time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	lr, ran, err := s.Fire(ctx, fire)
	if !ran || err != nil || lr.Found != 3 || lr.Sent != 3 || lr.Failed != 0 {
		t.Fatalf("ran %v, err %v, run %+v", ran, err, lr)
	}
	// The jobs reach the stream under the schedule's message ids, in the
	// order of their last scan, the oldest first.
	cons, err := js.OrderedConsumer(ctx, "JOBS", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order []string
	for range len(wantIDs) {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var j scanjob.Job
		if err := jsonUnmarshal(m.Data(), &j); err != nil {
			t.Fatal(err)
		}
		got[j.Image] = m.Headers().Get(jetstream.MsgIDHeader)
		order = append(order, j.Image)
		if j.RequestID != "schedule-monthly-rescan-"+fmt.Sprint(fire.Unix()) || !j.AcceptedAt.Equal(fire.Add(time.Second)) {
			t.Errorf("job %s: request id %q, accepted at %s: want the schedule's and the run's", j.Image, j.RequestID, j.AcceptedAt)
		}
		// The schedule lane, on its own subject token, so the background
		// consumer reads it after the pushes (the real resender,
		// scanner.JobStream, through queue.Subject).
		if j.Lane != scanjob.LaneSchedule || !strings.HasSuffix(m.Subject(), ".schedule") {
			t.Errorf("job %s: lane %q on %s, want the schedule lane and its subject", j.Image, j.Lane, m.Subject())
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(wantIDs) {
		t.Fatalf("message ids\n got %v\nwant %v", got, wantIDs)
	}
	if want := "[old failed-long-ago old-by-hss]"; fmt.Sprint(order) != want {
		t.Errorf("order %v, want %s (oldest scan first)", order, want)
	}
	if info, _ := js.Stream(ctx, "JOBS"); info.CachedInfo().State.Msgs != 3 {
		t.Errorf("stream holds %d jobs, want 3", info.CachedInfo().State.Msgs)
	}

	// A limit keeps the oldest scans.
	c.Name, c.Rescan.Limit = "limited", 1
	s2, err := New(c, Deps{KV: s.d.KV, Records: store, Resender: scanner.NewJobStream(js, queue.StreamConfig{Name: "JOBS", SubjectPrefix: "jobs"}), Replica: "r"})
	if err != nil {
		t.Fatal(err)
	}
	sel, err := s2.Select(ctx, fire.Add(-30*day))
	if err != nil || len(sel) != 1 || sel[0].Image != "old" {
		t.Fatalf("limited selection %v, %v", sel, err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
