package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/lifecycle"
)

// recordIndex is the watched records (scan_requested and scanning) kept
// up to date by one watch of the lifecycle bucket, so that a round reads
// memory instead of the whole bucket: finished records stay in the bucket
// for days (lifecycle's TerminalTTL), and re-reading all of them every
// few seconds would cost far more than the changes do. It is read once
// when the watch starts (the watch delivers every current value), then
// only changes arrive.
type recordIndex struct {
	w    jetstream.KeyWatcher
	done chan struct{} // closed when the watch ended
	log  *slog.Logger

	mu    sync.Mutex
	ready bool
	recs  map[string]lifecycle.Record
	err   error
}

// indexPoll is how often Pending looks whether the initial values are in.
const indexPoll = 20 * time.Millisecond

// errIndexEnded: the bucket's watch stopped (NATS gone, or the index was
// stopped); the watcher starts another.
var errIndexEnded = errors.New("lifecycle watch ended")

// watchRecords starts the index on kv, the lifecycle bucket.
func watchRecords(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger) (*recordIndex, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch lifecycle bucket: %w", err)
	}
	ix := &recordIndex{w: w, done: make(chan struct{}), log: log, recs: map[string]lifecycle.Record{}}
	go ix.run()
	return ix, nil
}

func (ix *recordIndex) run() {
	defer close(ix.done)
	for e := range ix.w.Updates() {
		ix.mu.Lock()
		if e == nil {
			ix.ready = true
			ix.mu.Unlock()
			continue
		}
		if e.Operation() != jetstream.KeyValuePut {
			delete(ix.recs, e.Key())
			ix.mu.Unlock()
			continue
		}
		var r lifecycle.Record
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			delete(ix.recs, e.Key())
			ix.mu.Unlock()
			ix.log.Debug("lifecycle record unreadable", "key", e.Key(), "error", err)
			continue
		}
		if r.State == lifecycle.ScanRequested || r.State == lifecycle.Scanning {
			ix.recs[e.Key()] = r
		} else {
			delete(ix.recs, e.Key())
		}
		ix.mu.Unlock()
	}
	ix.mu.Lock()
	ix.err = errIndexEnded
	ix.mu.Unlock()
}

// Pending returns the watched records, oldest AcceptedAt first, once the
// initial values are in; an error when the watch ended.
func (ix *recordIndex) Pending(ctx context.Context, _ int) ([]lifecycle.Record, error) {
	for {
		ix.mu.Lock()
		ready, err := ix.ready, ix.err
		var out []lifecycle.Record
		if ready && err == nil {
			out = make([]lifecycle.Record, 0, len(ix.recs))
			for _, r := range ix.recs {
				out = append(out, r)
			}
		}
		ix.mu.Unlock()
		switch {
		case err != nil:
			return nil, err
		case ready:
			slices.SortStableFunc(out, func(a, b lifecycle.Record) int {
				if c := a.AcceptedAt.Compare(b.AcceptedAt); c != 0 {
					return c
				}
				return strings.Compare(a.Key, b.Key)
			})
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("read watched lifecycles: %w", ctx.Err())
		case <-ix.done:
		case <-time.After(indexPoll):
		}
	}
}

// ended reports whether the watch stopped.
func (ix *recordIndex) ended() bool {
	select {
	case <-ix.done:
		return true
	default:
		return false
	}
}

func (ix *recordIndex) stop() {
	_ = ix.w.Stop()
	<-ix.done
}
