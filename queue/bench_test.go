package queue

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// BenchmarkPublish measures one Publish round trip (encode, publish, wait
// for the PubAck of a file-backed stream) against an embedded server.
func BenchmarkPublish(b *testing.B) {
	q := openQueue(b, natstest.Start(b).JetStream(), Config{}, nil)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := q.Publish(b.Context(), testJob(targetA, "team", "app", strconv.Itoa(i))); err != nil {
			b.Fatalf("publish: %v", err)
		}
	}
}

// BenchmarkPublishParallel is many webhook requests publishing at once.
func BenchmarkPublishParallel(b *testing.B) {
	q := openQueue(b, natstest.Start(b).JetStream(), Config{}, nil)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tag := strconv.FormatInt(n.Add(1), 10)
			if _, err := q.Publish(b.Context(), testJob(targetA, "team", "app", tag)); err != nil {
				b.Errorf("publish: %v", err)
				return
			}
		}
	})
}

// BenchmarkPublishDuplicate is a registry retrying one delivery: the stream
// drops it by Nats-Msg-Id.
func BenchmarkPublishDuplicate(b *testing.B) {
	q := openQueue(b, natstest.Start(b).JetStream(), Config{}, nil)
	job := testJob(targetA, "team", "app", "1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := q.Publish(b.Context(), job); err != nil {
			b.Fatalf("publish: %v", err)
		}
	}
}
