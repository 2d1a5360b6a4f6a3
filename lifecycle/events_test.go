package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// replica is one bridge's view: its own connection, store and publisher,
// sharing a metrics registry with the other replica of a test only when
// told.
type replica struct {
	js  jetstream.JetStream
	s   *Store
	p   *Publisher
	reg *prometheus.Registry
}

func openReplica(t *testing.T, srv *natstest.Server) replica {
	t.Helper()
	js := srv.JetStream()
	s, err := Open(t.Context(), js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p, err := OpenPublisher(t.Context(), js, s, ResultsConfig{}, reg, nil)
	if err != nil {
		t.Fatalf("OpenPublisher: %v", err)
	}
	return replica{js: js, s: s, p: p, reg: reg}
}

// results reads every event in the results stream.
func results(t *testing.T, js jetstream.JetStream) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	str, err := js.Stream(ctx, DefaultResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := int(info.State.Msgs)
	if n == 0 {
		return nil
	}
	cons, err := str.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"scanbridge.results.>"}})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(n)
	if err != nil {
		t.Fatal(err)
	}
	var out []Event
	for m := range batch.Messages() {
		if ct := m.Headers().Get("Content-Type"); !strings.HasPrefix(ct, "application/cloudevents+json") {
			t.Fatalf("Content-Type %q", ct)
		}
		var ev Event
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Fatalf("event %s: %v", m.Data(), err)
		}
		if !strings.HasPrefix(m.Subject(), "scanbridge.results.") {
			t.Fatalf("subject %s", m.Subject())
		}
		out = append(out, ev)
	}
	if len(out) != n {
		t.Fatalf("read %d of %d events", len(out), n)
	}
	return out
}

func scannedBy(r *Record) {
	r.SetState(Scanned, "HSS scan finished")
	r.HSS = HSSFacts{ID: 42, ImageID: "img-1", Vulnerabilities: 7, MaliciousFiles: 1, UnsafeSettings: 2, ScanStatus: "finish"}
	r.LastAnswer = Answer{API: "ListSwrImageRepository", Status: 200, RequestID: "hss-req-9"}
}

func TestFinishPublishesOneEventFromTwoReplicas(t *testing.T) {
	srv := natstest.Start(t)
	a, b := openReplica(t, srv), openReplica(t, srv)
	j := testJob("team.prod", "app", "v1")
	key := mustCreate(t, a.s, j).Key
	moveTo(t, a.s, key, ScanRequested, Scanning)

	var wg sync.WaitGroup
	for _, r := range []replica{a, b, a, b} {
		wg.Go(func() {
			rec, err := r.p.Finish(context.Background(), key, scannedBy)
			if err != nil {
				t.Errorf("Finish: %v", err)
				return
			}
			if rec.State != Scanned {
				t.Errorf("Finish returned %s", rec.State)
			}
		})
	}
	wg.Wait()
	// And once more, after the fact: nothing new.
	if _, err := b.p.Finish(t.Context(), key, func(r *Record) { r.SetState(GivenUp, "late") }); err != nil {
		t.Fatalf("Finish of a finished record: %v", err)
	}

	evs := results(t, a.js)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.SpecVersion != "1.0" || ev.Type != TypeScanned || ev.Source != DefaultEventSource || ev.ID != key+":scanned:1:0" ||
		ev.Subject != "team.prod/app:v1" || ev.DataContentType != "application/json" || ev.Time.IsZero() {
		t.Fatalf("event attributes %+v", ev)
	}
	d := ev.Data
	if d.Status != Scanned || d.Vulnerabilities != 7 || d.MaliciousFiles != 1 || d.UnsafeSettings != 2 || d.RequestID != "req-1" ||
		d.JobID != j.ID() || d.Registry != "harbor" || d.Receiver != "harbor-prod" || !d.PushedAt.Equal(j.PushedAt) ||
		d.ScanRequestedAt.IsZero() || d.FinishedAt.IsZero() || d.LastAnswer.RequestID != "hss-req-9" {
		t.Fatalf("event data %+v", d)
	}
	rec, _, _ := a.s.Get(t.Context(), key)
	if !rec.Published || rec.State != Scanned {
		t.Fatalf("record after Finish: %+v", rec)
	}
	// One observation across both replicas' registries.
	if n := histCount(t, a.reg) + histCount(t, b.reg); n != 1 {
		t.Fatalf("%d latency observations, want 1", n)
	}
}

func histCount(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == "scanbridge_push_to_scanned_seconds" {
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// TestRepublishAfterACrash: a terminal record written without its event
// (the bridge died between the two) is published by Republish, once.
func TestRepublishAfterACrash(t *testing.T) {
	srv := natstest.Start(t)
	a := openReplica(t, srv)
	key := mustCreate(t, a.s, testJob("team", "app", "v1")).Key
	_, err := a.s.Update(t.Context(), key, func(r *Record) error {
		r.SetState(GivenUp, "presence timeout")
		r.Reason = ReasonNotInSWR
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if evs := results(t, a.js); len(evs) != 0 {
		t.Fatalf("events before Republish: %v", evs)
	}
	n, err := a.p.Republish(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Republish = %d, %v", n, err)
	}
	if n, err := a.p.Republish(t.Context()); err != nil || n != 0 {
		t.Fatalf("second Republish = %d, %v", n, err)
	}
	evs := results(t, a.js)
	if len(evs) != 1 || evs[0].Type != TypeGivenUp || evs[0].Data.Reason != ReasonNotInSWR {
		t.Fatalf("events %+v", evs)
	}

	// A new push starts generation 2, whose ending is a new event.
	j := testJob("team", "app", "v1")
	if _, started, err := a.s.Begin(t.Context(), NewRecord(j)); err != nil || !started {
		t.Fatal(started, err)
	}
	moveTo(t, a.s, key, ScanRequested)
	if _, err := a.p.Finish(t.Context(), key, func(r *Record) { r.SetState(ScanFailed, "HSS"); r.Reason = "unpack error" }); err != nil {
		t.Fatal(err)
	}
	evs = results(t, a.js)
	if len(evs) != 2 || evs[1].Type != TypeScanFailed || evs[1].ID != key+":scan_failed:2:0" {
		t.Fatalf("events %+v", evs)
	}
}

func TestFinishRefusesANonTerminalEnd(t *testing.T) {
	a := openReplica(t, natstest.Start(t))
	key := mustCreate(t, a.s, testJob("team", "app", "v1")).Key
	_, err := a.p.Finish(t.Context(), key, func(r *Record) { r.SetState(ScanRequested, "") })
	if !errors.Is(err, ErrNotTerminal) {
		t.Fatalf("Finish to scan_requested: %v", err)
	}
	if _, err := a.p.Finish(t.Context(), key, func(r *Record) { r.SetState(Scanned, "") }); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("Finish accepted → scanned: %v", err)
	}
}

func TestStateMetrics(t *testing.T) {
	srv := natstest.Start(t)
	a := openReplica(t, srv)
	accepted := time.Now().Add(-time.Hour)
	j := testJob("team", "app", "v1")
	j.AcceptedAt = accepted
	mustCreate(t, a.s, j)
	k2 := mustCreate(t, a.s, testJob("team", "app", "v2")).Key
	moveTo(t, a.s, k2, ScanRequested, Scanned)

	reg := prometheus.NewRegistry()
	if err := RegisterStateMetrics(reg, a.s, time.Hour); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP scanbridge_images Images by lifecycle state, across all replicas (every replica reports the same: use max()).
# TYPE scanbridge_images gauge
scanbridge_images{state="accepted"} 1
scanbridge_images{state="given_up"} 0
scanbridge_images{state="scan_failed"} 0
scanbridge_images{state="scan_requested"} 0
scanbridge_images{state="scanned"} 1
scanbridge_images{state="scanning"} 0
scanbridge_images{state="sync_requested"} 0
scanbridge_images{state="waiting_presence"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "scanbridge_images"); err != nil {
		t.Fatal(err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "scanbridge_oldest_unscanned_image_age_seconds" {
			if age := mf.GetMetric()[0].GetGauge().GetValue(); age < 3600 || age > 3600+600 {
				t.Fatalf("oldest age %v, want about an hour", age)
			}
			return
		}
	}
	t.Fatal("no scanbridge_oldest_unscanned_image_age_seconds")
}

func TestResultsConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  ResultsConfig
		want string
	}{
		{"defaults", ResultsConfig{}, ""},
		{"a wildcard subject", ResultsConfig{Subject: "a.>"}, "subject"},
		{"a duplicate window past max age", ResultsConfig{MaxAge: time.Hour, Duplicates: 2 * time.Hour}, "duplicates"},
		{"a stream name with a dot", ResultsConfig{Stream: "A.B"}, "stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.WithDefaults().Validate()
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}
