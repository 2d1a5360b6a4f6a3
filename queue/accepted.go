package queue

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// acceptedSet remembers the ids (Nats-Msg-Id) of the jobs HSS accepted, for
// one duplicate window after the acceptance.
//
// Why: the job stream is a WorkQueue, so an acked job is deleted, and
// nats-server rebuilds its message-id window at start only from the
// messages still stored (stream.go rebuildDedupe). Without this set a
// registry retry that arrives after a NATS restart (with the embedded
// server: after every bridge restart) is stored again and scanned again.
// HSS scans are metered, so the consumer looks a delivered job up here and
// acks it without a call when HSS took it within the window.
//
// The batcher records the ids of a call HSS accepted before it acks the
// call's messages, so a crash between the two (or a lost ack) does not
// cause a second scan either.
type acceptedSet interface {
	// Seen reports, for each of ids it could check, whether it was
	// recorded within the window (true) or not (false). On error the map
	// still holds the ids that could be checked; a missing id is treated
	// as not seen and its job sent again (at-least-once wins over
	// dedupe). Safe for concurrent use.
	Seen(ctx context.Context, ids []string) (map[string]bool, error)
	// Record remembers ids as accepted now, and returns once each is
	// stored or could not be. Safe for concurrent use.
	Record(ctx context.Context, ids []string) error
}

// noAccepted is the set when Accepted.Disabled: it remembers nothing, so
// only the stream's own duplicate window applies.
type noAccepted struct{}

func (noAccepted) Seen(_ context.Context, ids []string) (map[string]bool, error) {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = false
	}
	return seen, nil
}

func (noAccepted) Record(context.Context, []string) error { return nil }

// kvParallel is how many KV requests one Seen or Record has out at once:
// enough to look up a full fetch (MaxHeld, 2000 by default) in tens of
// round trips, few enough not to flood a server that is struggling.
const kvParallel = 32

// kvAccepted keeps the set in a JetStream KV bucket: one key per job id,
// expired by the bucket's TTL (the stream's duplicate window), history 1.
// Lookups are direct gets (KV buckets allow them), so any replica of a
// clustered bucket answers.
type kvAccepted struct {
	kv jetstream.KeyValue
}

// openAccepted creates or updates the bucket of cfg.Accepted, with the job
// stream's duplicate window as TTL and its replicas and storage.
func openAccepted(ctx context.Context, js jetstream.JetStream, cfg Config) (kvAccepted, error) {
	storage := jetstream.FileStorage
	if cfg.Stream.Storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Accepted.Bucket,
		Description: "scan-bridge: ids of scan jobs HSS accepted, for one duplicate window",
		// One value per id; it is the key's presence that counts.
		History:  1,
		TTL:      cfg.Stream.Duplicates,
		Storage:  storage,
		Replicas: cfg.Stream.Replicas,
	})
	if err != nil {
		return kvAccepted{}, fmt.Errorf("create or update kv bucket %s (queue.accepted.disabled switches it off): %w",
			cfg.Accepted.Bucket, err)
	}
	return kvAccepted{kv: kv}, nil
}

func (s kvAccepted) Seen(ctx context.Context, ids []string) (map[string]bool, error) {
	var mu sync.Mutex
	seen := make(map[string]bool)
	err := eachParallel(ctx, ids, func(ctx context.Context, id string) error {
		_, err := s.kv.Get(ctx, acceptedKey(id))
		found := err == nil
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyDeleted) {
			return fmt.Errorf("look up accepted job %s: %w", id, err)
		}
		mu.Lock()
		seen[id] = found
		mu.Unlock()
		return nil
	})
	return seen, err
}

func (s kvAccepted) Record(ctx context.Context, ids []string) error {
	return eachParallel(ctx, ids, func(ctx context.Context, id string) error {
		// The value is empty: the key's presence and its timestamp (when
		// HSS accepted it) are the record.
		if _, err := s.kv.Put(ctx, acceptedKey(id), nil); err != nil {
			return fmt.Errorf("record accepted job %s: %w", id, err)
		}
		return nil
	})
}

// eachParallel runs fn for every id, kvParallel at a time, and returns
// the number of failures with the first error, or nil. Once ctx is done
// the remaining calls fail at once (their requests see ctx), so a dead
// server costs one timeout, not one per id.
func eachParallel(ctx context.Context, ids []string, fn func(context.Context, string) error) error {
	var (
		wg     sync.WaitGroup
		slots  = make(chan struct{}, kvParallel)
		failed atomic.Int64
		once   sync.Once
		first  error
	)
	for _, id := range ids {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := fn(ctx, id); err != nil {
				failed.Add(1)
				once.Do(func() { first = err })
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d failed, first: %w", n, len(ids), first)
	}
	return nil
}

// plainKey is what a KV key may be as it is: scanjob.Job.ID is 32 hex
// digits, a redrive's id adds "-redrive-<seq>".
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_=-]+$`)

// acceptedKey maps a message id to a valid KV key. Ids the queue makes are
// used as they are, so an operator can look one up by job id; any other
// (an external publisher's Nats-Msg-Id may hold dots, spaces or wildcards)
// is base64url-encoded under "b64.", which no plain key can collide with
// because plain keys have no dot.
func acceptedKey(id string) string {
	if plainKey.MatchString(id) {
		return id
	}
	return "b64." + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// The batcher's side of the set: admit looks fetched messages up before
// the loop sees them, record stores an accepted call's ids before its acks.

// Accepted-set timings.
const (
	// lookupTimeout bounds the accepted-set lookup of one fetched chunk.
	lookupTimeout = 2 * time.Second
	// lookupPause is how long lookups are skipped after one failed, so an
	// unreachable bucket costs one timeout per pause, not one per chunk.
	lookupPause = 10 * time.Second
	// lookupWarnEvery rate-limits the warning about failed lookups.
	lookupWarnEvery = time.Minute
	// recordTimeout bounds recording the ids of one accepted call; the
	// call's acks wait for it (at most this long).
	recordTimeout = 5 * time.Second
)

// admit hands fetched messages to the loop (deliver), except those whose
// job HSS already accepted within the duplicate window: those are acked
// without a call. It runs in the fetch goroutine before the loop sees the
// messages, so lookups never hold up grouping, timers or sending, and the
// lookups of one chunk run in parallel. A job whose lookup failed is sent
// on: a second scan is better than a lost one.
func (b *batcher) admit(ctx context.Context, msgs []message) {
	seen := b.lookup(ctx, msgs)
	for _, m := range msgs {
		d := m.Delivery()
		if d.MsgID == "" || !seen[d.MsgID] {
			b.deliver(ctx, m)
			continue
		}
		b.metrics.acceptedBefore()
		b.log.Debug("job already accepted, acked without a call", "job_id", d.MsgID, "stream_seq", d.StreamSeq,
			"deliveries", d.NumDelivered)
		if err := m.Ack(); err != nil {
			// Redelivered after AckWait and looked up again: harmless.
			b.log.Warn("settle message", "op", "ack", "job_id", d.MsgID, "stream_seq", d.StreamSeq, "error", err)
		}
	}
}

// lookup asks the accepted set about the ids of msgs. The answer maps an
// id to true (accepted within the window) or false (not); an id it lacks
// could not be checked and counts as unchecked. After a failure, lookups
// pause for lookupPause and the jobs go on unchecked.
func (b *batcher) lookup(ctx context.Context, msgs []message) map[string]bool {
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if id := m.Delivery().MsgID; id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	now := time.Now()
	b.lookupMu.Lock()
	paused := now.Before(b.lookupPaused)
	b.lookupMu.Unlock()
	if paused {
		b.metrics.unchecked(len(ids))
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	seen, err := b.accepted.Seen(lctx, ids)
	cancel()
	if err == nil {
		return seen
	}
	unchecked := 0
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			unchecked++
		}
	}
	if ctx.Err() != nil {
		// A hard stop: deliver naks these anyway.
		b.log.Debug("accepted-set lookup canceled", "jobs", len(ids), "error", err)
		return seen
	}
	b.metrics.unchecked(unchecked)
	b.lookupMu.Lock()
	b.lookupPaused = now.Add(lookupPause)
	b.lookupFailures++
	failures, warn := b.lookupFailures, now.Sub(b.lookupWarned) >= lookupWarnEvery
	if warn {
		b.lookupWarned, b.lookupFailures = now, 0
	}
	b.lookupMu.Unlock()
	log := b.log.Debug
	if warn {
		log = b.log.Warn
	}
	log("accepted-set lookup failed, jobs sent unchecked", "unchecked", unchecked, "jobs", len(ids),
		"failures_since_last_warning", failures, "paused_for", lookupPause, "error", err)
	return seen
}

// record remembers the ids of an accepted call's messages, collapsed ones
// included, in the accepted set. Recording before the acks means that
// neither a retry the stream no longer recognises nor a redelivery after a
// lost ack (or a crash before it) is scanned again. It has its own
// deadline, which a shutdown does not cut short (as a dead-letter write).
// A failure is logged and counted and changes nothing else: HSS accepted
// the call, so its messages are acked all the same.
func (b *batcher) record(c *call) {
	var ids []string
	have := map[string]bool{}
	for _, h := range c.held() {
		if id := h.d.MsgID; id != "" && !have[id] {
			have[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.callCtx), recordTimeout)
	defer cancel()
	if err := b.accepted.Record(ctx, ids); err != nil {
		b.metrics.recordFailed()
		b.log.Warn("record accepted jobs", "target", c.target.Key(), "jobs", len(ids), "error", err)
	}
}
