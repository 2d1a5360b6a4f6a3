package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Backoff between attempts. Conflicts are short: each one means another
// replica made progress, and the full jitter spreads the losers out.
// Failures (NATS unreachable) back off to a few seconds.
const (
	conflictBase = time.Millisecond
	conflictCap  = 64 * time.Millisecond
	failureBase  = 100 * time.Millisecond
	failureCap   = 5 * time.Second
)

// Shared is a rate limiter shared by every replica through one key of a
// JetStream KV bucket: a GCRA whose state (TAT, current rate, cut
// generation) is updated by compare-and-set, on the NATS server's clock.
// N replicas together make at most CallsPerMinute calls per minute (plus
// Burst), and a 429 reported by any of them slows all of them.
//
// When the KV cannot be reached, Wait grants nothing: it retries until its
// ctx is done (see the package doc for why there is no local fallback).
type Shared struct {
	cfg   Config
	kvc   KVConfig
	st    store
	log   *slog.Logger
	clock func() time.Time
	sync  clockSync

	rate       atomic.Uint64 // math.Float64bits of the last rate seen
	wakeMu     sync.Mutex
	refundedCh chan struct{} // closed by a refund of this replica

	down         atomic.Bool // the store failed and has not answered since
	noServerTime atomic.Bool // the server does not stamp stream info

	permits, refunds, conflicts, storeErrors atomic.Uint64
}

var _ Taker = (*Shared)(nil)

// Stats are counters and clock figures for metrics and logs.
type Stats struct {
	// Permits is the number of Waits that granted a call.
	Permits uint64
	// Refunds is the number of unused permits given back (Permit.Refund).
	Refunds uint64
	// Conflicts is the number of compare-and-set writes another replica
	// won (each was retried).
	Conflicts uint64
	// StoreErrors is the number of failed KV operations (NATS down,
	// timeout).
	StoreErrors uint64
	// ClockOffset is the NATS server's clock minus this process's, as
	// last measured, and ClockUncertainty the bound on its error (half the
	// round trip of the measurement).
	ClockOffset, ClockUncertainty time.Duration
}

// OpenShared creates (or updates) the bucket and returns the limiter for
// kv.Key in it. Every replica calls it at start; the key's state survives
// restarts and is created on first use. It fails when JetStream cannot be
// reached, since it measures the server's clock before granting anything.
func OpenShared(ctx context.Context, js jetstream.JetStream, cfg Config, kv KVConfig, opts ...Option) (*Shared, error) {
	cfg, kv = cfg.WithDefaults(), kv.WithDefaults()
	if err := errors.Join(cfg.Validate(), kv.Validate()); err != nil {
		return nil, err
	}
	bucket, err := openBucket(ctx, js, kv)
	if err != nil {
		return nil, err
	}
	return newShared(ctx, kvStore{kv: bucket, key: kv.Key}, cfg, kv, buildOptions(opts))
}

// newShared is OpenShared on any store, with validated configs.
func newShared(ctx context.Context, st store, cfg Config, kvc KVConfig, o options) (*Shared, error) {
	s := &Shared{cfg: cfg, kvc: kvc, st: st, clock: o.clock,
		log: o.log.With("bucket", kvc.Bucket, "key", kvc.Key)}
	s.rate.Store(math.Float64bits(cfg.CallsPerMinute))
	opCtx, cancel := context.WithTimeout(ctx, s.kvc.Timeout)
	defer cancel()
	if err := s.calibrate(opCtx); err != nil {
		return nil, fmt.Errorf("open shared rate limit %s/%s: %w", kvc.Bucket, kvc.Key, err)
	}
	cur, _, err := s.load(opCtx)
	if err != nil {
		return nil, fmt.Errorf("open shared rate limit %s/%s: %w", kvc.Bucket, kvc.Key, err)
	}
	s.seen(cur)
	return s, nil
}

// Wait implements Limiter: it reserves the next slot with one
// compare-and-set (a Get and an Update: two round trips when no other
// replica writes in between) and sleeps until the slot.
func (s *Shared) Wait(ctx context.Context) error {
	_, err := s.Take(ctx)
	return err
}

// Take implements Taker: Wait, returning the permit.
func (s *Shared) Take(ctx context.Context) (Permit, error) {
	var b backoff
	var lastErr error
	for {
		if err := ctx.Err(); err != nil {
			return Permit{}, s.waitErr(err, lastErr)
		}
		res, err := s.reserve(ctx)
		switch {
		case err == nil:
		case errors.Is(err, errConflict):
			s.conflicts.Add(1)
			if err := b.conflict(ctx); err != nil {
				return Permit{}, s.waitErr(ctx.Err(), lastErr)
			}
			continue
		case errors.Is(err, ErrUnavailable):
			if ctx.Err() != nil { // our own cancellation, not an outage
				return Permit{}, s.waitErr(ctx.Err(), lastErr)
			}
			lastErr = err
			s.storeFailed(err)
			if err := b.failure(ctx); err != nil {
				return Permit{}, s.waitErr(ctx.Err(), lastErr)
			}
			continue
		default: // the slot is past ctx's deadline
			return Permit{}, err
		}
		lastErr = nil
		s.storeAnswered()

		d := res.at.Sub(s.serverNow())
		if d <= 0 {
			s.permits.Add(1)
			return Permit{owner: s, slot: res.slot}, nil
		}
		if err := s.sleepUntil(ctx, &res); err != nil {
			s.release(ctx, res)
			return Permit{}, err
		}
		if s.cutSince(ctx, res.gen) {
			// A 429 arrived while we slept: the slot was priced at the
			// rate the gateway refused. Reserve again at the new rate.
			continue
		}
		s.permits.Add(1)
		return Permit{owner: s, slot: res.slot}, nil
	}
}

// reservation is a slot taken in the shared state.
type reservation struct {
	at   time.Time // server clock
	gen  uint64
	rev  uint64 // revision our write created
	prev state  // the state before it, to give the slot back
	slot slot   // for a refund of the permit (Permit.Refund)
	// refunded is the state's Refunded when the slot was last priced.
	refunded time.Duration
}

// reserve takes the next slot: read, one GCRA step, compare-and-set.
func (s *Shared) reserve(caller context.Context) (reservation, error) {
	ctx, cancel := context.WithTimeout(caller, s.kvc.Timeout)
	defer cancel()
	if s.sync.due(s.clock(), s.kvc.ClockRefresh) {
		if err := s.calibrate(ctx); err != nil {
			return reservation{}, err
		}
	}
	cur, rev, err := s.load(ctx)
	if err != nil {
		return reservation{}, err
	}
	now := s.serverNow()
	next, at := s.cfg.reserve(cur, now)
	// Do not take a slot the caller cannot wait for: it would hold up the
	// other replicas for nothing.
	if err := checkDeadline(caller, at.Sub(now)); err != nil {
		return reservation{}, err
	}
	newRev, err := s.write(ctx, next, rev)
	if err != nil {
		return reservation{}, err
	}
	s.seen(next)
	return reservation{at: at, gen: next.Gen, rev: newRev, prev: cur, slot: slotOf(next), refunded: next.Refunded}, nil
}

// release gives a slot back when its Wait was cancelled, if nobody has
// written since (then the TAT still ends with our slot, and restoring the
// previous state is exact). It runs in the background so that Wait returns
// at once; a failure only leaves the slot unused, which errs on the slow
// side.
func (s *Shared) release(ctx context.Context, res reservation) {
	ctx = context.WithoutCancel(ctx)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, s.kvc.Timeout)
		defer cancel()
		if _, err := s.write(ctx, res.prev, res.rev); err != nil {
			s.log.Debug("give back cancelled rate limit slot", "error", err)
		}
	}()
}

// sleepUntil sleeps until res's slot or ctx is done. A refund made by this
// replica meanwhile wakes it: it reads the state and moves its slot back
// by the time refunded since it was priced (state.refund says why that
// is safe). Refunds of other replicas are seen when the slot comes: it is
// not earlier then, which errs on the slow side.
func (s *Shared) sleepUntil(ctx context.Context, res *reservation) error {
	for {
		d := res.at.Sub(s.serverNow())
		if d <= 0 {
			return nil
		}
		wake := s.wake()
		t := time.NewTimer(d)
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for rate limit: %w", ctx.Err())
		case <-wake:
			t.Stop()
		}
		lctx, cancel := context.WithTimeout(ctx, s.kvc.Timeout)
		cur, _, err := s.load(lctx)
		cancel()
		if err != nil {
			continue // the slot stands
		}
		if shift := cur.Refunded - res.refunded; shift > 0 && cur.Gen == res.slot.gen && cur.Rate == res.slot.rate {
			res.at, res.slot.tat, res.refunded = res.at.Add(-shift), res.slot.tat.Add(-shift), cur.Refunded
		}
	}
}

// wake is the channel this replica's next refund closes.
func (s *Shared) wake() chan struct{} {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	if s.refundedCh == nil {
		s.refundedCh = make(chan struct{})
	}
	return s.refundedCh
}

func (s *Shared) wakeAll() {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	if s.refundedCh != nil {
		close(s.refundedCh)
		s.refundedCh = nil
	}
}

// refund gives back an unused permit (Permit.Refund) by compare-and-set
// on the server's clock, retrying conflicts (another replica took a slot
// meanwhile: the refund is computed again on its state) until ctx or the
// store's timeout ends.
func (s *Shared) refund(ctx context.Context, g slot) error {
	ctx, cancel := context.WithTimeout(ctx, s.kvc.Timeout)
	defer cancel()
	var b backoff
	for {
		cur, rev, err := s.load(ctx)
		if err != nil {
			return fmt.Errorf("refund rate limit permit: %w", err)
		}
		next, ok := s.cfg.refund(cur, g, s.serverNow())
		if !ok {
			return nil
		}
		_, err = s.write(ctx, next, rev)
		switch {
		case err == nil:
			s.seen(next)
			s.refunds.Add(1)
			s.wakeAll()
			return nil
		case errors.Is(err, errConflict):
			s.conflicts.Add(1)
			if err := b.conflict(ctx); err != nil {
				return fmt.Errorf("refund rate limit permit: %w", err)
			}
		default:
			s.storeErrors.Add(1)
			return fmt.Errorf("refund rate limit permit: %w", err)
		}
	}
}

// cutSince reports whether the rate was cut after a reservation of
// generation gen. If the store cannot tell, the reservation stands: it was
// valid when taken.
func (s *Shared) cutSince(ctx context.Context, gen uint64) bool {
	ctx, cancel := context.WithTimeout(ctx, s.kvc.Timeout)
	defer cancel()
	cur, _, err := s.load(ctx)
	if err != nil {
		s.log.Debug("check rate limit generation", "error", err)
		return false
	}
	s.seen(cur)
	return cur.Gen != gen
}

// Feedback implements Limiter. A 429 halves the shared rate (once per
// Holdoff, whichever replica saw it); successes raise it. A success at the
// ceiling does no I/O. When the store cannot be reached the report is
// dropped and the error says so: a lost 429 is repeated by the next one.
func (s *Shared) Feedback(ctx context.Context, throttled bool) error {
	if !throttled && s.Rate() >= s.cfg.CallsPerMinute {
		return nil
	}
	var b backoff
	for {
		old, next, changed, err := s.feedback(ctx, throttled)
		switch {
		case errors.Is(err, errConflict):
			s.conflicts.Add(1)
			if err := b.conflict(ctx); err != nil {
				return fmt.Errorf("rate limit feedback: %w", err)
			}
			continue
		case err != nil:
			if ctx.Err() == nil {
				s.storeErrors.Add(1)
			}
			return fmt.Errorf("rate limit feedback: %w", err)
		}
		if r := s.cfg.current(next); changed && (throttled || r != old) {
			logRateChange(s.log, throttled, old, r, next.Gen)
		}
		return nil
	}
}

func (s *Shared) feedback(ctx context.Context, throttled bool) (old float64, next state, changed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.kvc.Timeout)
	defer cancel()
	cur, rev, err := s.load(ctx)
	if err != nil {
		return 0, state{}, false, err
	}
	old = s.cfg.current(cur)
	if throttled {
		next, changed = s.cfg.throttled(cur, s.serverNow())
	} else {
		next, changed = s.cfg.succeeded(cur)
	}
	if !changed {
		s.seen(cur)
		return old, cur, false, nil
	}
	if _, err := s.write(ctx, next, rev); err != nil {
		return 0, state{}, false, err
	}
	s.seen(next)
	return old, next, true, nil
}

// Rate implements Limiter: the shared rate as this replica last saw it.
func (s *Shared) Rate() float64 { return math.Float64frombits(s.rate.Load()) }

// Stats returns the counters and the clock estimate.
func (s *Shared) Stats() Stats {
	off, unc := s.sync.offset()
	return Stats{Permits: s.permits.Load(), Refunds: s.refunds.Load(), Conflicts: s.conflicts.Load(), StoreErrors: s.storeErrors.Load(),
		ClockOffset: off, ClockUncertainty: unc}
}

func (s *Shared) seen(st state) { s.rate.Store(math.Float64bits(s.cfg.current(st))) }

// serverNow is the NATS server's clock, estimated.
func (s *Shared) serverNow() time.Time {
	off, _ := s.sync.offset()
	return s.clock().Add(off)
}

// calibrate takes one clock sample.
func (s *Shared) calibrate(ctx context.Context) error {
	send := s.clock()
	ts, err := s.st.serverTime(ctx)
	recv := s.clock()
	if err != nil {
		return err
	}
	if ts.IsZero() {
		// A server older than 2.10 does not stamp stream info: fall back
		// to the local clock (offset 0), which then must be NTP-synced on
		// every replica.
		if s.noServerTime.CompareAndSwap(false, true) {
			s.log.Warn("nats server gives no time; using the local clock for the shared rate limit")
		}
		ts = send.Add(recv.Sub(send) / 2)
	}
	s.sync.add(send, recv, ts)
	return nil
}

// load reads the state; a missing key is the zero state at revision 0.
func (s *Shared) load(ctx context.Context) (state, uint64, error) {
	v, rev, err := s.st.get(ctx)
	if errors.Is(err, errMissing) {
		return state{}, 0, nil
	}
	if err != nil {
		return state{}, 0, err
	}
	var cur state
	if err := json.Unmarshal(v, &cur); err != nil {
		// Not ours, or damaged. Start afresh at the ceiling as if a call
		// had just been made (the cautious reading), overwriting it by
		// compare-and-set like any other update.
		s.log.Warn("rate limit state unreadable; starting afresh", "revision", rev, "error", err)
		return state{TAT: s.serverNow().Add(s.cfg.interval(s.cfg.CallsPerMinute))}, rev, nil
	}
	return cur, rev, nil
}

// write stores st by compare-and-set on rev (0: the key must not exist).
func (s *Shared) write(ctx context.Context, st state, rev uint64) (uint64, error) {
	v, err := json.Marshal(st)
	if err != nil {
		return 0, fmt.Errorf("encode rate limit state: %w", err)
	}
	if rev == 0 {
		return s.st.create(ctx, v)
	}
	return s.st.update(ctx, v, rev)
}

func (s *Shared) storeFailed(err error) {
	s.storeErrors.Add(1)
	if s.down.CompareAndSwap(false, true) {
		s.log.Warn("rate limit store unavailable; no calls until it answers", "error", err)
	}
}

func (s *Shared) storeAnswered() {
	if s.down.CompareAndSwap(true, false) {
		s.log.Info("rate limit store available again")
	}
}

func (s *Shared) waitErr(ctxErr, storeErr error) error {
	if storeErr != nil {
		return fmt.Errorf("wait for rate limit: %w (last store error: %w)", ctxErr, storeErr)
	}
	return fmt.Errorf("wait for rate limit: %w", ctxErr)
}

// backoff spaces the attempts of one Wait or Feedback.
type backoff struct{ conflicts, failures int }

// conflict waits a random time up to 1 ms, 2 ms, ... 64 ms ("full
// jitter"), so replicas that collided do not collide again in lockstep.
func (b *backoff) conflict(ctx context.Context) error {
	d := min(conflictBase<<b.conflicts, conflictCap)
	b.conflicts = min(b.conflicts+1, 16)
	return sleep(ctx, rand.N(d)+1)
}

// failure waits 100 ms, 200 ms, ... 5 s, each with half of it random.
func (b *backoff) failure(ctx context.Context) error {
	d := min(failureBase<<b.failures, failureCap)
	b.failures = min(b.failures+1, 16)
	return sleep(ctx, d/2+rand.N(d/2))
}
