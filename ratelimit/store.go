package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrUnavailable marks a failure to reach the shared state (NATS down, no
// JetStream, timeout). Wait keeps retrying while its ctx lasts and, when it
// gives up, returns an error matching both this and the ctx error.
var ErrUnavailable = errors.New("rate limit store unavailable")

// errMissing: the key does not exist (yet, or any more).
// errConflict: another writer got there first (compare-and-set failed).
var (
	errMissing  = errors.New("rate limit key missing")
	errConflict = errors.New("rate limit key changed concurrently")
)

// store is the shared state of one limiter: one key with a revision, and
// the clock that orders writes to it. kvStore is the JetStream one; the
// tests use an in-memory one inside a synctest bubble.
type store interface {
	// get returns the value and its revision, or errMissing.
	get(ctx context.Context) (value []byte, rev uint64, err error)
	// create writes the value if the key does not exist, else errConflict.
	create(ctx context.Context, value []byte) (rev uint64, err error)
	// update writes the value if the key is still at rev, else errConflict.
	update(ctx context.Context, value []byte, rev uint64) (newRev uint64, err error)
	// serverTime is the store's clock now. The zero time means the store
	// cannot tell (then the local clock is used).
	serverTime(ctx context.Context) (time.Time, error)
}

// kvStore is one key of a JetStream KV bucket.
type kvStore struct {
	kv  jetstream.KeyValue
	key string
}

// openBucket creates the bucket or updates it to cfg; both are idempotent,
// so every replica does it at start.
func openBucket(ctx context.Context, js jetstream.JetStream, cfg KVConfig) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "scan-bridge rate limits shared by every replica",
		// Only the latest state matters; the revision is the CAS token.
		History:  1,
		Replicas: cfg.Replicas,
		// File storage: a server restart keeps the TAT, so replicas do
		// not all start from a full bucket at once.
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update kv bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

func (s kvStore) get(ctx context.Context) ([]byte, uint64, error) {
	e, err := s.kv.Get(ctx, s.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return nil, 0, errMissing
	case err != nil:
		return nil, 0, fmt.Errorf("%w: get %s: %w", ErrUnavailable, s.key, err)
	}
	return e.Value(), e.Revision(), nil
}

func (s kvStore) create(ctx context.Context, value []byte) (uint64, error) {
	rev, err := s.kv.Create(ctx, s.key, value)
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		return 0, errConflict
	case err != nil:
		return 0, fmt.Errorf("%w: create %s: %w", ErrUnavailable, s.key, err)
	}
	return rev, nil
}

func (s kvStore) update(ctx context.Context, value []byte, rev uint64) (uint64, error) {
	n, err := s.kv.Update(ctx, s.key, value, rev)
	switch {
	// ErrKeyRevisionMismatch covers both codes a CAS conflict comes back
	// with (10071, and 10164 on replicated streams).
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return 0, errConflict
	case err != nil:
		return 0, fmt.Errorf("%w: update %s: %w", ErrUnavailable, s.key, err)
	}
	return n, nil
}

// serverTime reads the bucket's stream info: the server stamps it with its
// own clock ("ts", since nats-server 2.10:
// https://github.com/nats-io/nats-server/pull/4133), and in a cluster the stream
// leader answers, the same server whose clock stamps the writes. A KV
// entry's Created() is on that clock too, but it says when the last write
// happened, not what time it is now.
func (s kvStore) serverTime(ctx context.Context) (time.Time, error) {
	st, err := s.kv.Status(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: kv status: %w", ErrUnavailable, err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return time.Time{}, nil
	}
	return bs.StreamInfo().TimeStamp, nil
}
