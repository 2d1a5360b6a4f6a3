package ratelimit

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// countingStore counts the round trips to the store.
type countingStore struct {
	store
	n atomic.Int64
}

func (c *countingStore) get(ctx context.Context) ([]byte, uint64, error) {
	c.n.Add(1)
	return c.store.get(ctx)
}

func (c *countingStore) create(ctx context.Context, v []byte) (uint64, error) {
	c.n.Add(1)
	return c.store.create(ctx, v)
}

func (c *countingStore) update(ctx context.Context, v []byte, rev uint64) (uint64, error) {
	c.n.Add(1)
	return c.store.update(ctx, v, rev)
}

func (c *countingStore) serverTime(ctx context.Context) (time.Time, error) {
	c.n.Add(1)
	return c.store.serverTime(ctx)
}

// plentiful is a rate no Wait ever waits for: 100 million calls a second
// with a burst of 1000.
var plentiful = Config{CallsPerMinute: 6e9, Burst: 1000}.WithDefaults()

// benchShared opens n limiters on separate connections to one embedded
// server, each counting its round trips.
func benchShared(b *testing.B, n int) ([]*Shared, []*countingStore) {
	b.Helper()
	ns := natstest.Start(b)
	kvc := KVConfig{}.WithDefaults()
	var lims []*Shared
	var counts []*countingStore
	for range n {
		kv, err := openBucket(b.Context(), connect(ns), kvc)
		if err != nil {
			b.Fatal(err)
		}
		cs := &countingStore{store: kvStore{kv: kv, key: kvc.Key}}
		s, err := newShared(b.Context(), cs, plentiful, kvc, buildOptions(nil))
		if err != nil {
			b.Fatal(err)
		}
		lims, counts = append(lims, s), append(counts, cs)
	}
	return lims, counts
}

// BenchmarkSharedWait is one replica's Wait with permits to spare: the
// cost of asking the cluster, in time and in round trips to NATS.
func BenchmarkSharedWait(b *testing.B) {
	lims, counts := benchShared(b, 1)
	l, c := lims[0], counts[0]
	c.n.Store(0)
	for b.Loop() {
		if err := l.Wait(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.n.Load())/float64(b.N), "round-trips/op")
}

// BenchmarkSharedWaitContended is two replicas on separate connections
// asking at once from several goroutines each: the conflicts they retry.
func BenchmarkSharedWaitContended(b *testing.B) {
	lims, counts := benchShared(b, 2)
	for _, c := range counts {
		c.n.Store(0)
	}
	var next atomic.Int64
	b.SetParallelism(4) // 4 goroutines per core
	b.RunParallel(func(pb *testing.PB) {
		l := lims[next.Add(1)%2]
		for pb.Next() {
			if err := l.Wait(b.Context()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	var trips, conflicts int64
	for i, c := range counts {
		trips += c.n.Load()
		conflicts += int64(lims[i].Stats().Conflicts)
	}
	b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
	b.ReportMetric(float64(conflicts)/float64(b.N), "conflicts/op")
}

// BenchmarkAdaptiveWait is the local limiter, for scale.
func BenchmarkAdaptiveWait(b *testing.B) {
	a, err := NewAdaptive(plentiful)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := a.Wait(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
