package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

func TestARetryAfterANATSRestartIsAckedWithoutASecondScan(t *testing.T) {
	tests := []struct {
		name     string
		disabled bool
		// wantScans is how often the job reached HSS after the restart.
		wantScans   int
		wantAlready float64
	}{
		{name: "the accepted set remembers what the restarted stream forgot", wantScans: 0, wantAlready: 1},
		{name: "without the accepted set the retry is scanned again", disabled: true, wantScans: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := natstest.Start(t)
			cfg := natsConfig()
			cfg.Accepted.Disabled = tt.disabled
			job := testJob(targetA, "team", "api", "1.0")

			// First life: the push is stored, scanned and acked (deleted).
			js := n.JetStream()
			q := openQueue(t, js, cfg, nil)
			if res, err := q.Publish(t.Context(), job); err != nil || res.Duplicate {
				t.Fatalf("first publish = %+v, %v", res, err)
			}
			first := newSink(1)
			_, stop := runConsumer(t, q, &fakeScanner{scan: func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
				first.add(items)
				return nil
			}})
			first.wait(t)
			natstest.Eventually(t, patience, "the work queue to empty after the ack", func() bool { return streamMsgs(t, q.stream) == 0 })
			if res, err := q.Publish(t.Context(), job); err != nil || !res.Duplicate {
				t.Fatalf("a retry before the restart = %+v, %v; want the stream's own duplicate", res, err)
			}
			hardStop(t, stop) // everything is acked: nothing to hand over
			js.Conn().Close() // the first life's connection ends with it
			n.Stop()

			// Second life on the same store: the stream's window was
			// rebuilt from stored messages only, so the retry is new to it.
			n.Restart()
			js = n.JetStream()
			m := NewMetrics(prometheus.NewRegistry())
			q = openQueue(t, js, cfg, m)
			retry, err := q.Publish(t.Context(), job)
			if err != nil {
				t.Fatalf("retry after the restart: %v", err)
			}
			if retry.Duplicate {
				t.Fatalf("the restarted stream recognised the retry (%+v): nats-server now keeps the ids of deleted "+
					"messages, and this test no longer shows the case the accepted set exists for", retry)
			}
			// A marker after the retry: once it is scanned, the retry was
			// decided (fetch order, and admit acks before it delivers).
			marker := testJob(targetA, "team", "marker", "1.0")
			publishAll(t, q, []scanjob.Job{marker})
			second := newSink(2)
			_, stop = runConsumer(t, q, &fakeScanner{scan: func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
				second.add(items)
				return nil
			}})
			natstest.Eventually(t, patience, "the marker at HSS", func() bool { return second.count(marker.ID()) == 1 })
			if tt.wantScans > 0 {
				natstest.Eventually(t, patience, "the retry at HSS", func() bool { return second.count(job.ID()) == tt.wantScans })
			}
			if got := second.count(job.ID()); got != tt.wantScans {
				t.Errorf("the retry reached HSS %d times after the restart, want %d", got, tt.wantScans)
			}
			if got := testutil.ToFloat64(m.alreadyAccepted); got != tt.wantAlready {
				t.Errorf("already_accepted_total = %v, want %v", got, tt.wantAlready)
			}
			natstest.Eventually(t, patience, "the work queue to empty", func() bool { return streamMsgs(t, q.stream) == 0 })
			hardStop(t, stop)
		})
	}
}

// hardStop stops a consumer without letting its pull run out (graceful
// shutdown waits up to fetchWait for that), for a test whose jobs are all
// settled.
func hardStop(t *testing.T, stop func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestTheKVAcceptedSetRecordsAndFindsIDs(t *testing.T) {
	n := natstest.Start(t)
	js := n.JetStream()
	cfg := natsConfig().WithDefaults()
	set, err := openAccepted(t.Context(), js, cfg)
	if err != nil {
		t.Fatalf("open accepted set: %v", err)
	}
	job := testJob(targetA, "team", "api", "1")
	ids := []string{job.ID(), job.ID() + "-redrive-7", "external.id with spaces", "ext*"}
	if err := set.Record(t.Context(), ids); err != nil {
		t.Fatalf("record: %v", err)
	}
	ask := append([]string{"never-accepted", "external.id"}, ids...)
	seen, err := set.Seen(t.Context(), ask)
	if err != nil {
		t.Fatalf("seen: %v", err)
	}
	for _, id := range ask {
		want := slices.Contains(ids, id)
		if got, checked := seen[id]; !checked || got != want {
			t.Errorf("seen[%q] = %v (checked %v), want %v", id, got, checked, want)
		}
	}
	// An operator finds a job by its id.
	if _, err := set.kv.Get(t.Context(), job.ID()); err != nil {
		t.Errorf("get %s from the bucket: %v", job.ID(), err)
	}

	// A server that is gone: every lookup fails, none is reported seen,
	// and it takes one timeout, not one per id.
	js.Conn().Close()
	n.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	seen, err = set.Seen(ctx, ask)
	if err == nil {
		t.Fatal("seen with the server gone: no error")
	}
	if len(seen) != 0 {
		t.Errorf("seen with the server gone answered %v, want nothing", seen)
	}
	if err := set.Record(ctx, ids); err == nil {
		t.Error("record with the server gone: no error")
	}
}

func TestOpenWithTheAcceptedSetDisabledCreatesNoBucket(t *testing.T) {
	js := natstest.Start(t).JetStream()
	cfg := natsConfig()
	cfg.Accepted.Disabled = true
	q := openQueue(t, js, cfg, nil)
	if _, ok := q.accepted.(noAccepted); !ok {
		t.Errorf("accepted set %T, want noAccepted", q.accepted)
	}
	if _, err := js.KeyValue(t.Context(), DefaultAcceptedBucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("bucket lookup = %v, want ErrBucketNotFound", err)
	}
}

// BenchmarkAcceptedSet measures recording and looking up one full fetch
// (2000 ids, the default MaxHeld) against an embedded file-backed server,
// and reports the bucket's bytes per record.
func BenchmarkAcceptedSet(b *testing.B) {
	js := natstest.Start(b).JetStream()
	set, err := openAccepted(b.Context(), js, Config{}.WithDefaults())
	if err != nil {
		b.Fatalf("open accepted set: %v", err)
	}
	const perOp = 2000
	round := 0
	next := func() []string {
		ids := make([]string, perOp)
		for i := range ids {
			ids[i] = testJob(targetA, "team", "app", fmt.Sprintf("%d-%d", round, i)).ID()
		}
		round++
		return ids
	}
	b.Run("record", func(b *testing.B) {
		for b.Loop() {
			if err := set.Record(b.Context(), next()); err != nil {
				b.Fatalf("record: %v", err)
			}
		}
		st, err := set.kv.Status(b.Context())
		if err != nil {
			b.Fatalf("status: %v", err)
		}
		b.ReportMetric(float64(st.Bytes())/float64(st.Values()), "bytes/record")
	})
	ids := next()
	if err := set.Record(b.Context(), ids); err != nil {
		b.Fatalf("record: %v", err)
	}
	b.Run("seen", func(b *testing.B) {
		for b.Loop() {
			if _, err := set.Seen(b.Context(), ids); err != nil {
				b.Fatalf("seen: %v", err)
			}
		}
	})
}
