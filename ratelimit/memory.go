package ratelimit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// MemoryStore is one limiter state kept in this process's memory, with
// revisions as a KV key with history 1 keeps them, and time.Now as its
// server clock. Several Shared limiters on one MemoryStore behave as
// replicas on one KV key: the same compare-and-set, the same GCRA. It lets
// a caller run many "replicas" in one process on a fake clock
// (testing/synctest), where a real NATS server cannot run; a deployment
// uses OpenShared.
type MemoryStore struct {
	mu    sync.Mutex
	value []byte
	rev   uint64 // 0: the key does not exist
	seq   uint64
}

var _ store = (*MemoryStore)(nil)

// NewMemoryShared returns a Shared limiter whose state is m. Every Shared
// on the same m shares one rate.
func NewMemoryShared(ctx context.Context, m *MemoryStore, cfg Config, opts ...Option) (*Shared, error) {
	if m == nil {
		return nil, errors.New("rate limit: nil memory store")
	}
	cfg, kvc := cfg.WithDefaults(), KVConfig{Bucket: "memory", Key: "memory"}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newShared(ctx, m, cfg, kvc, buildOptions(opts))
}

func (m *MemoryStore) get(context.Context) ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rev == 0 {
		return nil, 0, errMissing
	}
	return slices.Clone(m.value), m.rev, nil
}

func (m *MemoryStore) create(_ context.Context, v []byte) (uint64, error) { return m.write(v, 0) }

func (m *MemoryStore) update(_ context.Context, v []byte, rev uint64) (uint64, error) {
	return m.write(v, rev)
}

func (m *MemoryStore) write(v []byte, rev uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rev != m.rev {
		return 0, errConflict
	}
	m.seq++
	m.value, m.rev = slices.Clone(v), m.seq
	return m.rev, nil
}

func (m *MemoryStore) serverTime(context.Context) (time.Time, error) { return time.Now(), nil }
