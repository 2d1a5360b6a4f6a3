package scanner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease makes one replica at a time the watcher: the one holding a key in
// a JetStream KV bucket.
//
// The rule uses revisions and each replica's own monotonic clock, never a
// time written by another replica, so replicas' clocks need not agree:
//
//   - Take: a missing (or deleted) key is taken with kv.Create; only one
//     replica's Create succeeds.
//   - Hold: the holder rewrites the key (kv.Update on the revision it
//     wrote) every TTL/4. A conflict means another replica took the lease
//     over: it stops at once. When no rewrite has succeeded for TTL/2
//     since the last successful one was sent (NATS unreachable), it stops
//     too, before anyone can have taken over.
//   - Take over: a replica that sees the key held remembers its revision
//     and when it first saw it (its own clock). When the revision has not
//     moved for a whole TTL, the holder is dead (it would have rewritten
//     the key four times), and the replica takes the lease with kv.Update
//     on that revision: of several contenders one wins.
//   - Give up: a holder that stops deletes the key on its revision, so the
//     next replica takes over at its next look rather than after a TTL.
//
// The holder stops by (last successful send + TTL/2) and a contender takes
// over no earlier than (that write + TTL), so two holders never overlap
// while NATS answers. The lease saves HSS calls; it is not what keeps an
// image's outcome single: every lifecycle change is a compare-and-set on
// the image's record, so even two watchers cannot finish an image twice.
type Lease struct {
	kv     jetstream.KeyValue
	key    string
	ttl    time.Duration
	holder string
	log    *slog.Logger
	held   atomic.Bool
}

// leaseValue is what the key holds: who holds it, for people reading the
// bucket (`nats kv get`), and when it was last renewed on the holder's
// clock, informational only.
type leaseValue struct {
	Holder  string    `json:"holder"`
	Renewed time.Time `json:"renewed"`
}

// NewLease returns the lease on key in kv with the given TTL. holder names
// this replica in the key; empty means the host name and a random suffix.
func NewLease(kv jetstream.KeyValue, key string, ttl time.Duration, holder string, log *slog.Logger) *Lease {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if holder == "" {
		holder = ReplicaName()
	}
	return &Lease{kv: kv, key: key, ttl: ttl, holder: holder, log: log.With("lease", key, "holder", holder)}
}

// ReplicaName names this process among the replicas (a lease holder, a
// schedule's claim): the host name and a random suffix, so two processes
// on one host differ.
func ReplicaName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// Held reports whether this replica holds the lease now.
func (l *Lease) Held() bool { return l.held.Load() }

// Holder is this replica's name in the key.
func (l *Lease) Holder() string { return l.holder }

// Run calls fn each time this replica takes the lease, with a ctx that is
// cancelled when it loses it, and returns when ctx is done (after fn has
// returned and the lease was given up).
func (l *Lease) Run(ctx context.Context, fn func(ctx context.Context)) {
	var seenRev uint64
	var seenAt time.Time
	look := time.NewTicker(l.ttl / 4)
	defer look.Stop()
	for {
		rev, err := l.take(ctx, &seenRev, &seenAt)
		if err != nil && ctx.Err() == nil {
			l.log.Debug("watch lease not taken", "error", err)
		}
		if rev != 0 {
			l.hold(ctx, rev, fn)
			seenRev, seenAt = 0, time.Time{}
		}
		select {
		case <-ctx.Done():
			return
		case <-look.C:
		}
	}
}

// take tries once; it returns the revision written when it took the lease.
func (l *Lease) take(ctx context.Context, seenRev *uint64, seenAt *time.Time) (uint64, error) {
	opCtx, cancel := context.WithTimeout(ctx, l.ttl/4)
	defer cancel()
	e, err := l.kv.Get(opCtx, l.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		rev, err := l.kv.Create(opCtx, l.key, l.value())
		if err != nil {
			return 0, fmt.Errorf("create lease %s: %w", l.key, err)
		}
		l.log.Info("watch lease taken")
		return rev, nil
	case err != nil:
		return 0, fmt.Errorf("read lease %s: %w", l.key, err)
	}
	now := time.Now()
	if e.Revision() != *seenRev {
		*seenRev, *seenAt = e.Revision(), now
		return 0, nil
	}
	if now.Sub(*seenAt) < l.ttl {
		return 0, nil
	}
	rev, err := l.kv.Update(opCtx, l.key, l.value(), e.Revision())
	if err != nil {
		return 0, fmt.Errorf("take over lease %s: %w", l.key, err)
	}
	var old leaseValue
	_ = json.Unmarshal(e.Value(), &old)
	l.log.Info("watch lease taken over", "previous_holder", old.Holder, "silent_for", now.Sub(*seenAt).Round(time.Millisecond).String())
	return rev, nil
}

// hold runs fn while renewing the lease written at rev.
func (l *Lease) hold(ctx context.Context, rev uint64, fn func(ctx context.Context)) {
	fctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	l.held.Store(true)
	go func() {
		defer close(done)
		fn(fctx)
	}()
	defer func() {
		stop()
		<-done
		l.held.Store(false)
	}()
	renew := time.NewTicker(l.ttl / 4)
	defer renew.Stop()
	lastSent := time.Now() // when the write that is still valid was sent
	for {
		select {
		case <-ctx.Done():
			l.release(rev)
			return
		case <-done:
			// fn ended on its own: give the lease to someone who runs it.
			l.release(rev)
			return
		case <-renew.C:
		}
		sent := time.Now()
		opCtx, cancel := context.WithTimeout(ctx, l.ttl/4)
		next, err := l.kv.Update(opCtx, l.key, l.value(), rev)
		cancel()
		switch {
		case err == nil:
			rev, lastSent = next, sent
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound),
			errors.Is(err, jetstream.ErrKeyDeleted):
			l.log.Warn("watch lease lost to another replica", "error", err)
			return
		default:
			if time.Since(lastSent) >= l.ttl/2 {
				l.log.Warn("watch lease not renewed in time; stopping the watch", "error", err)
				return
			}
		}
	}
}

// release deletes the key if this replica still holds it, so another
// replica takes over at its next look.
func (l *Lease) release(rev uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl/4)
	defer cancel()
	if err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(rev)); err != nil {
		l.log.Debug("give up watch lease", "error", err)
		return
	}
	l.log.Info("watch lease given up")
}

func (l *Lease) value() []byte {
	b, _ := json.Marshal(leaseValue{Holder: l.holder, Renewed: time.Now().UTC()})
	return b
}

// OpenLease opens the watch lease of cfg in bucket (hss.limit_kv.bucket):
// the bucket the shared rate limit made, or, when it does not exist (no
// shared limit), one made with the same settings (history 1, file
// storage, replicas).
func OpenLease(ctx context.Context, js jetstream.JetStream, bucket string, replicas int, cfg WatchConfig, log *slog.Logger) (*Lease, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket,
			Description: "scan-bridge rate limits shared by every replica", History: 1,
			Replicas: max(replicas, 1), Storage: jetstream.FileStorage})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open watch lease bucket %s: %w", bucket, err)
	}
	ttl := cfg.LeaseTTL
	if ttl <= 0 {
		ttl = DefaultWatchLeaseTTL
	}
	key := cfg.LeaseKey
	if key == "" {
		key = DefaultWatchLeaseKey
	}
	return NewLease(kv, key, ttl, "", log), nil
}
