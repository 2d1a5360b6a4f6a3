package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/lifecycle"
)

// results reads the bridge's result events from the SCANBRIDGE_RESULTS
// stream (an ordered consumer on scanbridge.results.>), keeping the first
// event of each image: delivery is at least once (lifecycle/events.go).
type results struct {
	nc *nats.Conn

	mu     sync.Mutex
	byRef  map[string]received
	dups   int
	last   time.Time
	errors int
}

type received struct {
	Event lifecycle.Event
	At    time.Time // when the harness received it
}

// maxEvents bounds what is kept: a scenario has at most this many images.
const maxEvents = 100000

func readResults(ctx context.Context, natsURL string) (*results, error) {
	nc, err := nats.Connect(natsURL, nats.Name("lifecycle-run"))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", natsURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	r := &results{nc: nc, byRef: map[string]received{}}
	// The bridge creates the stream when it opens the lifecycle; wait for
	// it a bounded time.
	var cons jetstream.Consumer
	deadline := time.Now().Add(readyBound)
	for {
		cons, err = js.OrderedConsumer(ctx, lifecycle.DefaultResultsStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{lifecycle.DefaultResultsSubject + ".>"},
		})
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) || time.Now().After(deadline) || ctx.Err() != nil {
			nc.Close()
			return nil, fmt.Errorf("results stream %s (does the bridge open the lifecycle?): %w", lifecycle.DefaultResultsStream, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	_, err = cons.Consume(func(m jetstream.Msg) {
		var ev lifecycle.Event
		now := time.Now()
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			r.errors++
			return
		}
		ref := ev.Data.Namespace + "/" + ev.Data.Image + ":" + ev.Data.Tag
		if _, ok := r.byRef[ref]; ok {
			r.dups++
			return
		}
		if len(r.byRef) >= maxEvents {
			return
		}
		r.byRef[ref] = received{Event: ev, At: now}
		r.last = now
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("consume results: %w", err)
	}
	return r, nil
}

func (r *results) snapshot() (map[string]received, time.Time, int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]received, len(r.byRef))
	for k, v := range r.byRef {
		out[k] = v
	}
	return out, r.last, r.dups, r.errors
}

func (r *results) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byRef)
}

func (r *results) close() { r.nc.Close() }

// maxRecords bounds the lifecycle records read at the end of a scenario.
const maxRecords = 50000

// lifecycleStates counts the records of the bridge's lifecycle bucket by
// state, at the end of a scenario: where the images that got no result
// stand (the bridge has no status command yet).
func lifecycleStates(ctx context.Context, natsURL string) (map[string]int, error) {
	nc, err := nats.Connect(natsURL, nats.Name("lifecycle-run-states"))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, lifecycle.DefaultBucket)
	if err != nil {
		return nil, fmt.Errorf("lifecycle bucket %s: %w", lifecycle.DefaultBucket, err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list lifecycle keys: %w", err)
	}
	states := map[string]int{}
	n := 0
	for k := range keys.Keys() {
		if n++; n > maxRecords {
			_ = keys.Stop()
			break
		}
		e, err := kv.Get(ctx, k)
		if err != nil {
			states["unreadable"]++
			continue
		}
		var r struct {
			State string `json:"state"`
		}
		if json.Unmarshal(e.Value(), &r) != nil {
			states["undecodable"]++
			continue
		}
		states[r.State]++
	}
	return states, nil
}
