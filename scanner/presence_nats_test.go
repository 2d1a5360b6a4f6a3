package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// patience only ends a hung test; every wait is for seconds at most.
const patience = 30 * time.Second

// presenceEnv is the real path end to end: the job stream and consumer on
// an embedded NATS, the HSS side with its presence gate and lifecycle
// store, the fake HSS with its catalog behind hssclient.
type presenceEnv struct {
	t     *testing.T
	fake  *hsstest.Fake
	h     *HSS
	q     *queue.Queue
	store *lifecycle.Store
	js    jetstream.JetStream
}

// startPresence runs it with short timers: lists at most every 100ms,
// deferrals from 200ms doubling to 1s, a sync at most every second taking
// 300ms, and the receiver "slow" giving up after timeout.
func startPresence(t *testing.T, opts hsstest.Options, timeout time.Duration) *presenceEnv {
	t.Helper()
	js := natstest.Start(t).JetStream()
	if opts.SyncDelay == 0 {
		opts.SyncDelay = 300 * time.Millisecond
	}
	fake := tokenFake(opts)
	c := DefaultConfig()
	c.CallsPerMinute, c.Burst, c.SyncInterval = 600, 10, time.Second
	h := newTestHSS(t, fake, c, testLogger(t))
	h.presence.cfg.ListInterval = 100 * time.Millisecond
	h.presence.cfg.BackoffBase, h.presence.cfg.BackoffCap = 200*time.Millisecond, time.Second
	h.presence.cfg.Timeouts = map[string]time.Duration{"slow": timeout}

	store, err := lifecycle.Open(t.Context(), js, lifecycle.Config{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := lifecycle.OpenPublisher(t.Context(), js, store, lifecycle.ResultsConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.UseLifecycle(store, pub)

	q, err := queue.Open(t.Context(), js, queue.Config{Consumer: queue.ConsumerConfig{
		MaxItems: 100, MaxItemsPerCall: 200, Linger: 50 * time.Millisecond, Heartbeat: time.Second,
		BackoffBase: 50 * time.Millisecond, BackoffCap: 200 * time.Millisecond, InfoInterval: 100 * time.Millisecond,
	}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
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
	return &presenceEnv{t: t, fake: fake, h: h, q: q, store: store, js: js}
}

func (e *presenceEnv) job(namespace, image string) scanjob.Job {
	return scanjob.Job{Receiver: "slow", Registry: "harbor", Namespace: namespace, Image: image, Tag: "1", Target: testTarget}
}

// push makes the image exist in SWR from at (HSS knows it after the next
// sync past at) and publishes its job.
func (e *presenceEnv) push(j scanjob.Job, at time.Time) {
	e.t.Helper()
	e.fake.PushToSWR(hsstest.Target{Region: testTarget.Region, ProjectID: testTarget.ProjectID},
		string(j.Target.ImageType), j.Namespace, j.Image, j.Tag, "", at)
	e.publish(j)
}

// syncKnown makes HSS learn what is in SWR now (a sync done by someone
// else) and waits until it knows n images.
func (e *presenceEnv) syncKnown(n int) {
	e.t.Helper()
	e.fake.Synchronize(hsstest.Target{Region: testTarget.Region, ProjectID: testTarget.ProjectID}, string(testTarget.ImageType))
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

func (e *presenceEnv) publish(j scanjob.Job) {
	e.t.Helper()
	if _, err := e.q.Publish(e.t.Context(), j); err != nil {
		e.t.Fatal(err)
	}
}

// scans is how many batch-scan items named j.
func (e *presenceEnv) scans(j scanjob.Job) int {
	n := 0
	for _, it := range e.fake.Items() {
		if it.Namespace == j.Namespace && it.ImageName == j.Image && it.ImageVersion == j.Tag {
			n++
		}
	}
	return n
}

// refusedScans is how many batch-scans the fake answered with an error.
func (e *presenceEnv) refusedScans() int {
	n := 0
	for _, r := range e.fake.Refusals() {
		if strings.HasSuffix(r.Path, "/image/batch-scan") {
			n++
		}
	}
	return n
}

// testLogger writes through t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (e *presenceEnv) record(j scanjob.Job) lifecycle.Record {
	e.t.Helper()
	r, _, err := e.store.Get(e.t.Context(), lifecycle.KeyOf(j))
	if err != nil {
		return lifecycle.Record{}
	}
	return r
}

func (e *presenceEnv) deadLetters(reason string) []queue.DeadLetter {
	e.t.Helper()
	recs, err := e.q.DeadLetters().List(e.t.Context(), queue.Filter{Reason: reason})
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

func TestAnImageThatAppearsLaterIsScannedOnce(t *testing.T) {
	for _, mode := range []struct {
		name string
		m    hsstest.UnknownMode
	}{{"silent 200", hsstest.UnknownImageSilent200}, {"400 HSS.0011", hsstest.UnknownImage400}} {
		t.Run(mode.name, func(t *testing.T) {
			e := startPresence(t, hsstest.Options{UnknownImages: mode.m}, time.Minute)
			late, now := e.job("team", "late"), e.job("team", "now")
			e.push(now, time.Now().Add(-time.Second))
			e.syncKnown(1)
			e.push(late, time.Now().Add(1500*time.Millisecond))

			natstest.Eventually(t, patience, "both images scanned", func() bool { return e.scans(late) > 0 && e.scans(now) > 0 })
			natstest.Eventually(t, patience, "the scan_requested records", func() bool {
				return e.record(late).State == lifecycle.ScanRequested && e.record(now).State == lifecycle.ScanRequested
			})
			// Every job acked: nothing is left that could be scanned again.
			natstest.Eventually(t, patience, "the job stream to empty", func() bool {
				st, err := e.js.Stream(t.Context(), queue.DefaultStreamName)
				if err != nil {
					return false
				}
				info, err := st.Info(t.Context())
				return err == nil && info.State.Msgs == 0
			})
			for _, j := range []scanjob.Job{late, now} {
				if n := e.scans(j); n != 1 {
					t.Errorf("%s scanned %d times, want once", j.Image, n)
				}
			}
			if refused := e.refusedScans(); refused != 0 {
				t.Errorf("%d batch-scans refused: the gate sent an image HSS did not know", refused)
			}
			if dl := e.deadLetters(""); len(dl) != 0 {
				t.Errorf("dead letters %+v, want none", dl)
			}
			r := e.record(late)
			if r.PresenceChecks < 1 || r.ScanAttempts != 1 || r.ScanRequestedAt.IsZero() || r.SyncRequestedAt.IsZero() {
				t.Errorf("record of the late image = %+v", r)
			}
			for _, it := range e.fake.Items() {
				if it.ImageName == late.Image && it.Time.Before(r.ScanRequestedAt) {
					t.Errorf("scan_requested_at %s is after HSS took the scan at %s; want the call's start", r.ScanRequestedAt, it.Time)
				}
			}
			if syncs := e.fake.Calls(hsstest.APIRunImageSynchronize).Calls; syncs < 1 {
				t.Errorf("%d syncs, want the gate to have asked for one", syncs)
			}
		})
	}
}

func TestAnImageThatNeverAppearsIsGivenUpAsNotInSWR(t *testing.T) {
	e := startPresence(t, hsstest.Options{}, 2*time.Second)
	never := e.job("team", "never")
	e.publish(never)
	natstest.Eventually(t, patience, "a not_in_swr dead letter", func() bool { return len(e.deadLetters(queue.ReasonNotInSWR)) == 1 })
	rec := e.deadLetters(queue.ReasonNotInSWR)[0]
	if rec.Job == nil || rec.Job.ID() != never.ID() || rec.Attempts < 2 {
		t.Errorf("dead letter = %+v", rec)
	}
	natstest.Eventually(t, patience, "the given_up record", func() bool {
		r := e.record(never)
		return r.State == lifecycle.GivenUp && r.Reason == lifecycle.ReasonNotInSWR
	})
	if n := e.fake.Calls(hsstest.APIBatchScan).Calls; n != 0 {
		t.Errorf("%d batch-scan calls for an image HSS never knew, want none", n)
	}
}

func TestAnHSS0011CostsNoBisection(t *testing.T) {
	e := startPresence(t, hsstest.Options{}, time.Minute)
	var jobs []scanjob.Job
	for i := range 4 {
		j := e.job("team", fmt.Sprintf("app%d", i))
		jobs = append(jobs, j)
		e.fake.PushToSWR(hsstest.Target{Region: testTarget.Region, ProjectID: testTarget.ProjectID},
			string(testTarget.ImageType), j.Namespace, j.Image, j.Tag, "", time.Now().Add(-time.Second))
	}
	e.syncKnown(4)
	// The first scan is refused as if HSS did not know an image the list
	// showed.
	e.fake.FailNext(1, 400, "HSS.0011")
	for _, j := range jobs {
		e.publish(j)
	}
	natstest.Eventually(t, patience, "every image scanned", func() bool {
		for _, j := range jobs {
			if e.scans(j) == 0 {
				return false
			}
		}
		return true
	})
	// One refused call of four, then one accepted call of four (the
	// items come back together after the same short deferral): no
	// halves, no single-item calls.
	if refused := e.refusedScans(); refused != 1 {
		t.Errorf("%d refused batch-scans, want the one injected", refused)
	}
	for _, r := range e.fake.Requests() {
		if r.API != hsstest.APIBatchScan || r.Body.ImageInfoList == nil {
			continue
		}
		if n := len(*r.Body.ImageInfoList); n != 4 {
			t.Errorf("an accepted batch-scan of %d images: bisection (want the 4 together)", n)
		}
	}
	if dl := e.deadLetters(""); len(dl) != 0 {
		t.Errorf("dead letters %+v, want none", dl)
	}
}

func TestWaitingImagesOfManyNamespacesCostOneListCall(t *testing.T) {
	e := startPresence(t, hsstest.Options{}, time.Minute)
	var jobs []scanjob.Job
	for i := range 100 {
		j := e.job(fmt.Sprintf("ns%03d", i), "app")
		jobs = append(jobs, j)
		e.fake.PushToSWR(hsstest.Target{Region: testTarget.Region, ProjectID: testTarget.ProjectID},
			string(testTarget.ImageType), j.Namespace, j.Image, j.Tag, "", time.Now().Add(-time.Second))
	}
	e.syncKnown(100)
	for _, j := range jobs {
		e.publish(j)
	}
	natstest.Eventually(t, patience, "every image scanned", func() bool {
		for _, j := range jobs {
			if e.scans(j) == 0 {
				return false
			}
		}
		return true
	})
	if lists := e.fake.Calls(hsstest.APIListSwrImageRepository).Calls; lists != 1 {
		t.Errorf("%d list calls for 100 namespaces, want 1", lists)
	}
}

// TestPresenceCheckOffIsTodaysPath: with hss.presence_check false every
// item goes to batch-scan as it comes, and an unknown image fails the call
// as before (no list, no Partial).
func TestPresenceCheckOffIsTodaysPath(t *testing.T) {
	fake := tokenFake(hsstest.Options{UnknownImages: hsstest.UnknownImage400})
	c := DefaultConfig()
	c.PresenceCheck = false
	h := newTestHSS(t, fake, c, testLogger(t))
	j := scanjob.Job{Receiver: "r", Registry: "harbor", Namespace: "team", Image: "unknown", Tag: "1", Target: testTarget,
		AcceptedAt: time.Now()}
	err := h.Scan(t.Context(), testTarget, []scanjob.Job{j})
	if _, partial := errors.AsType[*queue.Partial](err); partial || !hssclient.IsNotFound(err) {
		t.Fatalf("Scan = %v, want the plain HSS.0011 error", err)
	}
	if v := h.Judge(err); v.Class != queue.Permanent {
		t.Errorf("Judge = %+v, want Permanent (bisect and dead-letter, as before)", v)
	}
	if n := fake.Calls(hsstest.APIListSwrImageRepository).Calls; n != 0 {
		t.Errorf("%d list calls with the gate off", n)
	}
}
