package handlers

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// seenIDs remembers the delivery ids a receiver answered 2xx, for a fixed
// window and up to a bound, in this process only (replicas do not share
// it; the queue's Nats-Msg-Id deduplication is the cross-replica
// guarantee). Ids are kept as SHA-256 sums, so a sender's long ids cost no
// more than short ones. Safe for concurrent use.
type seenIDs struct {
	window time.Duration
	limit  int
	clock  *clock

	mu    sync.Mutex
	byKey map[[sha256.Size]byte]*list.Element
	// order holds *seenEntry oldest first: every entry lives for the same
	// window, so the front is always the next to expire.
	order *list.List
}

type seenEntry struct {
	key [sha256.Size]byte
	at  time.Time
}

func newSeenIDs(window time.Duration, limit int, clk *clock) *seenIDs {
	return &seenIDs{window: window, limit: limit, clock: clk, byKey: map[[sha256.Size]byte]*list.Element{}, order: list.New()}
}

// seen reports whether id was remembered within the window.
func (s *seenIDs) seen(id string) bool {
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(s.clock.now())
	_, ok := s.byKey[key]
	return ok
}

// remember records id as answered now; an id remembered again starts a
// new window.
func (s *seenIDs) remember(id string) {
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.now()
	s.expire(now)
	if e, ok := s.byKey[key]; ok {
		e.Value.(*seenEntry).at = now
		s.order.MoveToBack(e)
		return
	}
	s.byKey[key] = s.order.PushBack(&seenEntry{key: key, at: now})
	for s.order.Len() > s.limit {
		s.drop(s.order.Front())
	}
}

func (s *seenIDs) expire(now time.Time) {
	for e := s.order.Front(); e != nil && now.Sub(e.Value.(*seenEntry).at) >= s.window; e = s.order.Front() {
		s.drop(e)
	}
}

func (s *seenIDs) drop(e *list.Element) {
	delete(s.byKey, e.Value.(*seenEntry).key)
	s.order.Remove(e)
}

// len is the number of ids remembered, for tests.
func (s *seenIDs) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}
