package sources

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/scanner"
)

// TestOneReplicaPollsAndATakeoverContinues: two replicas run the same
// source under scanner's lease; one polls, the other never does while
// the first lives; when the holder's NATS connection dies, the other
// takes the lease over and polls.
func TestOneReplicaPollsAndATakeoverContinues(t *testing.T) {
	r := newRig(t)
	r.reg.push(t, "team/app:1")
	c := r.source("leased")
	c.Schedule.Every = 200 * time.Millisecond
	const ttl = 2 * time.Second

	type replica struct {
		nc     *nats.Conn
		poller *Poller
		stop   context.CancelFunc
		done   chan struct{}
	}
	start := func(holder string) *replica {
		nc := r.ns.Connect()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		kv, err := js.KeyValue(context.Background(), Bucket)
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(c, Deps{KV: kv, Planner: r.srv, Publisher: queuePublisher{r.q}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		rp := &replica{nc: nc, poller: p, stop: cancel, done: make(chan struct{})}
		go func() {
			defer close(rp.done)
			p.Run(ctx, scanner.NewLease(kv, LeaseKey(c.Name), ttl, holder, nil))
		}()
		t.Cleanup(func() { cancel(); <-rp.done; nc.Close() })
		return rp
	}
	a, b := start("a"), start("b")
	natstest.Eventually(t, 30*time.Second, "three rounds", func() bool { return a.poller.Rounds()+b.poller.Rounds() >= 3 })
	holder, other := a, b
	if b.poller.Rounds() > 0 {
		holder, other = b, a
	}
	if other.poller.Rounds() != 0 {
		t.Fatalf("both replicas polled: %d and %d rounds", a.poller.Rounds(), b.poller.Rounds())
	}
	name, _, err := LeaseHolder(context.Background(), r.kv, c.Name)
	if err != nil || name == "" {
		t.Fatalf("lease holder %q, %v", name, err)
	}

	holder.nc.Close() // the holder dies: it can no longer renew
	natstest.Eventually(t, 30*time.Second, "the other replica polls", func() bool { return other.poller.Rounds() > 0 })
	if n := streamMessages(t, r); n != 1 {
		t.Fatalf("stream holds %d jobs; the image must be enqueued once whoever polls", n)
	}
}
