package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/admin"
	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/lifecycle"
)

// From push to scanned, at serve level: a Harbor webhook into the real
// bridge (in process, embedded NATS, presence gate and watcher on) in
// front of the fake HSS over loopback, whose syncs and scans take a
// fraction of a second. The test plays the registry: it puts the image
// into the fake's SWR before the push. What comes out is one result
// CloudEvent per image on scanbridge.results.<namespace> and the record
// in GET /api/v1/images.

const lifeAdminToken = "lifecycle-e2e-admin-token-0123456789"

// newLifecycleE2E runs the bridge against a fake HSS with short timings.
func newLifecycleE2E(t *testing.T) *e2eEnv {
	t.Helper()
	hss := hsstest.NewServer(hsstest.Options{AccessKeys: map[string]hsstest.Key{testAK: {SecretKey: testSK}},
		SyncDelay: 100 * time.Millisecond, ScanQueueDelay: 200 * time.Millisecond, ScanDuration: 700 * time.Millisecond})
	t.Cleanup(hss.Close)
	cfg := config.Default()
	cfg.HTTP.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Admin.Token = lifeAdminToken
	cfg.HTTP.ShutdownGrace = 5 * time.Second
	cfg.NATS.DataDir = t.TempDir()
	cfg.NATS.Listen = ""
	cfg.HSS.Region, cfg.HSS.ProjectID = "cn-north-4", "0123456789abcdef0123456789abcdef"
	cfg.HSS.Endpoint = hss.URL
	cfg.HSS.AccessKey, cfg.HSS.SecretKey = testAK, testSK
	cfg.HSS.CallsPerMinute, cfg.HSS.Burst = 600, 50
	cfg.HSS.PresenceCheck = true
	cfg.HSS.Watch.Enabled = true
	cfg.HSS.Watch.Interval = 100 * time.Millisecond
	cfg.Queue.Consumer.Linger = 200 * time.Millisecond
	cfg.Queue.Consumer.BackoffBase = 100 * time.Millisecond
	cfg.Queue.Consumer.BackoffCap = 500 * time.Millisecond
	cfg.Queue.Consumer.Heartbeat = time.Second
	cfg.Receivers = []handlers.ReceiverConfig{{
		Name: "harbor", Format: "harbor",
		Auth: handlers.AuthConfig{Method: handlers.AuthToken, Secrets: []string{testToken}},
	}}
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

// replicate is the registry's part: the tag harborPush names is in SWR
// and HSS knows it (a sync done), before the webhook arrives.
func (e *e2eEnv) replicate(ns, repo, tag string) {
	e.t.Helper()
	t := hsstest.Target{Region: e.cfg.HSS.Region, ProjectID: e.cfg.HSS.ProjectID}
	e.hss.PushToSWR(t, "private_image", ns, repo, tag, fmt.Sprintf("sha256:%064x", len(ns+repo+tag)), time.Now().Add(-time.Second))
	e.hss.Synchronize(t, "private_image")
	ref := hsstest.Ref{Namespace: ns, Image: repo, Tag: tag}
	natstest.Eventually(e.t, 10*time.Second, "HSS to know "+ref.String(), func() bool {
		for _, im := range e.hss.Catalog() {
			if im.Ref == ref && im.Known {
				return true
			}
		}
		return false
	})
}

// images is GET /api/v1/images?namespace=ns with the admin token.
func (e *e2eEnv) images(ns string) []lifecycle.Record {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.app.adminLn.Addr().String()+"/api/v1/images?namespace="+url.QueryEscape(ns), nil)
	req.Header.Set("Authorization", "Bearer "+lifeAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("GET /api/v1/images: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /api/v1/images: %d %s", resp.StatusCode, raw)
	}
	var ans admin.ImagesAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		e.t.Fatalf("images answer %s: %v", raw, err)
	}
	return ans.Images
}

func recordOf(recs []lifecycle.Record, image string) (lifecycle.Record, bool) {
	for _, r := range recs {
		if r.Image == image {
			return r, true
		}
	}
	return lifecycle.Record{}, false
}

// resultEvent is the part of a result CloudEvent the test reads.
type resultEvent struct {
	Type    string               `json:"type"`
	Subject string               `json:"subject"`
	Data    lifecycle.ResultData `json:"data"`
}

// results are the result events stored for subject, in order.
func (e *e2eEnv) results(subject string) []resultEvent {
	e.t.Helper()
	js, err := jetstream.New(e.app.nc)
	if err != nil {
		e.t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(e.t.Context(), lifecycle.DefaultResultsStream,
		jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		e.t.Fatalf("results consumer: %v", err)
	}
	var out []resultEvent
	for {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			e.t.Fatalf("fetch results: %v", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var ev resultEvent
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				e.t.Fatalf("result event %s: %v", m.Data(), err)
			}
			out = append(out, ev)
		}
		if n == 0 {
			return out
		}
	}
}

func TestLifecycleE2EPushToScanned(t *testing.T) {
	e := newLifecycleE2E(t)
	good, bad := "app", "broken"
	e.replicate("team", good, "1.0")
	e.replicate("team", bad, "1.0")
	e.hss.FailScan(hsstest.Ref{Namespace: "team", Image: bad, Tag: "1.0"}, "image layer unreadable")
	want := hsstest.DefaultFindings(hsstest.Ref{Namespace: "team", Image: good, Tag: "1.0"})

	for _, repo := range []string{good, bad} {
		if code, ans := e.post(harborPush("team", repo, "1.0"), testToken); code != http.StatusAccepted {
			t.Fatalf("webhook for %s: %d %+v", repo, code, ans)
		}
	}
	var recs []lifecycle.Record
	natstest.Eventually(t, 25*time.Second, "both images to end", func() bool {
		recs = e.images("team")
		g, ok1 := recordOf(recs, good)
		b, ok2 := recordOf(recs, bad)
		return ok1 && ok2 && g.State.Terminal() && b.State.Terminal()
	})

	g, _ := recordOf(recs, good)
	if g.State != lifecycle.Scanned || g.ScanAttempts != 1 || g.HSS.Vulnerabilities != int64(want.Vul) {
		t.Errorf("record of %s: %s, %d scan attempts, hss %+v; want scanned once with %d vulnerabilities",
			good, g.State, g.ScanAttempts, g.HSS, want.Vul)
	}
	b, _ := recordOf(recs, bad)
	if b.State != lifecycle.ScanFailed || b.Reason != "image layer unreadable" {
		t.Errorf("record of %s: %s, reason %q; want scan_failed with HSS's reason", bad, b.State, b.Reason)
	}

	// Exactly one result event per image, on the namespace's subject;
	// wait for the failed one's too (Finish publishes right after the
	// record is written).
	var evs []resultEvent
	natstest.Eventually(t, 10*time.Second, "the result events", func() bool {
		evs = e.results(lifecycle.DefaultResultsSubject + ".team")
		return len(evs) >= 2
	})
	byImage := map[string][]resultEvent{}
	for _, ev := range evs {
		byImage[ev.Data.Image] = append(byImage[ev.Data.Image], ev)
	}
	if got := byImage[good]; len(got) != 1 || got[0].Type != lifecycle.TypeScanned ||
		got[0].Data.Vulnerabilities != int64(want.Vul) || got[0].Data.MaliciousFiles != int64(want.MaliciousFile) ||
		got[0].Data.UnsafeSettings != int64(want.UnsafeSetting) || got[0].Data.ScanAttempts != 1 {
		t.Errorf("events of %s: %+v; want one %s with the counts %+v", good, got, lifecycle.TypeScanned, want)
	}
	if got := byImage[bad]; len(got) != 1 || got[0].Type != lifecycle.TypeScanFailed || got[0].Data.Reason != "image layer unreadable" {
		t.Errorf("events of %s: %+v; want one %s with HSS's reason", bad, got, lifecycle.TypeScanFailed)
	}
	if n := len(e.hss.Items()); n != 2 {
		t.Errorf("HSS got %d scan items, want one per image", n)
	}
}
