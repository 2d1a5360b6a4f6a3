package lifecycle

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Errors of the store.
var (
	// ErrNotFound: no record under the key (never written, or expired).
	ErrNotFound = errors.New("no lifecycle record")
	// ErrExists: Create found a record under the key.
	ErrExists = errors.New("lifecycle record exists")
	// ErrConflict: Update lost the compare-and-set race maxCASAttempts
	// times in a row; another replica keeps changing the record.
	ErrConflict = errors.New("lifecycle record changed concurrently")
)

// maxCASAttempts bounds Update's read-modify-write loop. Two replicas
// rarely touch one image at once; a few retries settle it, and a record
// that changes on every read is a bug worth an error.
const maxCASAttempts = 8

// markerTTL is how long the bucket keeps the marker a key's TTL expiry
// leaves (JetStream needs one for per-key TTLs; watchers see it).
const markerTTL = time.Minute

// Store keeps lifecycle records in a JetStream KV bucket. It is safe for
// concurrent use, also by several processes: every change is a
// compare-and-set on the key's revision.
type Store struct {
	js  jetstream.JetStream
	kv  jetstream.KeyValue
	cfg Config
	// putPrefix is the subject a key is written under ("$KV.<bucket>.").
	putPrefix string
	now       func() time.Time
}

// Open creates the bucket or updates it to cfg (both idempotent, so every
// replica does it at start) and returns the store.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "scan-bridge image lifecycles, one record per image",
		// Only the latest state matters; the revision is the CAS token.
		History:  1,
		Replicas: cfg.Replicas,
		MaxBytes: cfg.MaxBytes,
		// File storage: records survive a NATS restart.
		Storage: jetstream.FileStorage,
		// Enables per-key TTLs, which finished records get.
		LimitMarkerTTL: markerTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update kv bucket %s: %w", cfg.Bucket, err)
	}
	return &Store{js: js, kv: kv, cfg: cfg, putPrefix: "$KV." + cfg.Bucket + ".", now: time.Now}, nil
}

// ErrNoBucket: Attach found no bucket (the bridge never ran with this
// NATS and bucket name).
var ErrNoBucket = errors.New("lifecycle bucket not found")

// Attach opens an existing bucket without creating or changing it, for
// readers such as `bridge status` that must not alter the bridge's setup.
// Only cfg's Bucket and Timeout are used.
func Attach(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoBucket, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("open kv bucket %s: %w", cfg.Bucket, err)
	}
	return &Store{js: js, kv: kv, cfg: cfg, putPrefix: "$KV." + cfg.Bucket + ".", now: time.Now}, nil
}

// Config is the store's configuration, defaults filled.
func (s *Store) Config() Config { return s.cfg }

// opCtx bounds one KV operation by the configured timeout unless ctx has
// a deadline already.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.Timeout)
}

// Get returns the record under key and its revision.
func (s *Store) Get(ctx context.Context, key string) (Record, uint64, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	e, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return Record{}, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
	case errors.Is(err, jetstream.ErrInvalidKey):
		return Record{}, 0, fmt.Errorf("%w: %q is not a lifecycle key", ErrNotFound, key)
	case err != nil:
		return Record{}, 0, fmt.Errorf("get lifecycle %s: %w", key, err)
	}
	r, err := decode(e.Value())
	if err != nil {
		return Record{}, 0, fmt.Errorf("get lifecycle %s: %w", key, err)
	}
	return r, e.Revision(), nil
}

func decode(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("decode record: %w", err)
	}
	return r, nil
}

// Create stores a new record under KeyOf(r.Job()) and returns it as
// stored: Key set, State accepted unless given, Generation 1 unless
// given, AcceptedAt now unless given, History started. If the key holds a
// record it changes nothing and returns that record and ErrExists.
func (s *Store) Create(ctx context.Context, r Record) (Record, error) {
	now := s.now().UTC()
	r = r.clone()
	r.Key = KeyOf(r.Job())
	r.State = cmp.Or(r.State, Accepted)
	if !r.State.Valid() {
		return Record{}, fmt.Errorf("create lifecycle %s: unknown state %q", r.Key, r.State)
	}
	r.Generation = max(r.Generation, 1)
	if r.AcceptedAt.IsZero() {
		r.AcceptedAt = now
	}
	r.UpdatedAt = now
	r.bound()
	if len(r.History) == 0 {
		r.addHistory(Transition{State: r.State, At: now, Note: r.note})
	}
	data, err := json.Marshal(r)
	if err != nil {
		return Record{}, fmt.Errorf("encode lifecycle %s: %w", r.Key, err)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	if r.State.Terminal() {
		_, err = s.write(octx, r.Key, data, 0, true)
	} else {
		_, err = s.kv.Create(octx, r.Key, data)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSeq(err) {
		cur, _, gerr := s.Get(ctx, r.Key)
		if gerr != nil {
			return Record{}, fmt.Errorf("create lifecycle %s: %w, and reading it: %w", r.Key, ErrExists, gerr)
		}
		return cur, fmt.Errorf("create lifecycle %s: %w", r.Key, ErrExists)
	}
	if err != nil {
		return Record{}, fmt.Errorf("create lifecycle %s: %w", r.Key, err)
	}
	return r, nil
}

// Begin starts the lifecycle of a pushed image: it creates the record, or
// restarts a finished one as accepted (a new push or a rescan: Generation
// one more, the push's times and ids taken from r, the last lifecycle's
// facts cleared, History kept). A record still in progress is left as it
// is: the push joins the lifecycle under way. started says whether a
// lifecycle began.
func (s *Store) Begin(ctx context.Context, r Record) (rec Record, started bool, err error) {
	rec, err = s.Create(ctx, r)
	if !errors.Is(err, ErrExists) {
		return rec, err == nil, err
	}
	errInProgress := errors.New("in progress")
	rec, err = s.Update(ctx, KeyOf(r.Job()), func(cur *Record) error {
		if !cur.State.Terminal() {
			return errInProgress
		}
		cur.Receiver, cur.Registry, cur.RegistryHost = r.Receiver, r.Registry, r.RegistryHost
		cur.InstanceURL, cur.JobID, cur.RequestID = r.InstanceURL, r.JobID, r.RequestID
		cur.PushedAt, cur.AcceptedAt = r.PushedAt, r.AcceptedAt
		cur.SetState(Accepted, cmp.Or(r.note, "pushed again"))
		return nil
	})
	if errors.Is(err, errInProgress) {
		cur, _, gerr := s.Get(ctx, KeyOf(r.Job()))
		return cur, false, gerr
	}
	return rec, err == nil, err
}

// Update changes the record under key: it reads it, lets fn change a copy,
// checks the transition (Allowed), stamps it and writes it back if the
// revision is still the one read. On a conflict (another replica wrote
// first) it reads again and calls fn again, up to maxCASAttempts times,
// so fn must decide from the record it is given, not from what it saw
// before. An error from fn ends Update with that error and no write. A fn
// that changes nothing writes nothing.
//
// Stamping: UpdatedAt is now; a state change adds a History entry (with
// the note of SetState) and, unless fn set it, the time of the state it
// enters (SyncRequestedAt, ScanRequestedAt, ScanStartedAt, FinishedAt).
// Entering a terminal state clears Published. Leaving a terminal state
// for accepted starts a new lifecycle: Generation one more, AcceptedAt
// now unless fn set it, and the last lifecycle's reason, request and scan
// times, counters, HSS facts and answer cleared unless fn set them.
//
// A terminal record is written with the store's TerminalTTL, so finished
// images expire on their own; records in progress have no TTL.
func (s *Store) Update(ctx context.Context, key string, fn func(*Record) error) (Record, error) {
	for attempt := range maxCASAttempts {
		old, rev, err := s.Get(ctx, key)
		if err != nil {
			return Record{}, err
		}
		cur := old.clone()
		if err := fn(&cur); err != nil {
			return old, err
		}
		cur.Key = key
		cur.bound()
		if !Allowed(old.State, cur.State) {
			return old, &TransitionError{Key: key, From: old.State, To: cur.State}
		}
		before, _ := json.Marshal(old)
		after, err := json.Marshal(cur)
		if err != nil {
			return old, fmt.Errorf("encode lifecycle %s: %w", key, err)
		}
		if bytes.Equal(before, after) {
			return old, nil
		}
		s.stamp(&old, &cur)
		if after, err = json.Marshal(cur); err != nil {
			return old, fmt.Errorf("encode lifecycle %s: %w", key, err)
		}
		octx, cancel := s.opCtx(ctx)
		_, err = s.write(octx, key, after, rev, cur.State.Terminal())
		cancel()
		if isWrongLastSeq(err) {
			if attempt < maxCASAttempts-1 {
				if err := sleep(ctx, backoff(attempt)); err != nil {
					return old, fmt.Errorf("update lifecycle %s: %w", key, err)
				}
			}
			continue
		}
		if err != nil {
			return old, fmt.Errorf("update lifecycle %s: %w", key, err)
		}
		return cur, nil
	}
	return Record{}, fmt.Errorf("update lifecycle %s: %w (%d attempts)", key, ErrConflict, maxCASAttempts)
}

// stamp sets what Update sets on every change (see Update).
func (s *Store) stamp(old, cur *Record) {
	now := s.now().UTC()
	cur.UpdatedAt = now
	if cur.State == old.State {
		return
	}
	cur.addHistory(Transition{State: cur.State, At: now, Note: cur.note})
	setIfUnchanged := func(field *time.Time, was time.Time) {
		if field.Equal(was) {
			*field = now
		}
	}
	switch {
	case cur.State == SyncRequested:
		setIfUnchanged(&cur.SyncRequestedAt, old.SyncRequestedAt)
	case cur.State == ScanRequested:
		setIfUnchanged(&cur.ScanRequestedAt, old.ScanRequestedAt)
	case cur.State == Scanning:
		setIfUnchanged(&cur.ScanStartedAt, old.ScanStartedAt)
	case cur.State.Terminal():
		setIfUnchanged(&cur.FinishedAt, old.FinishedAt)
		cur.Published = false
	case cur.State == Accepted && old.State.Terminal():
		cur.Generation = old.Generation + 1
		setIfUnchanged(&cur.AcceptedAt, old.AcceptedAt)
		clear := func(field *time.Time, was time.Time) {
			if field.Equal(was) {
				*field = time.Time{}
			}
		}
		clear(&cur.SyncRequestedAt, old.SyncRequestedAt)
		clear(&cur.ScanRequestedAt, old.ScanRequestedAt)
		clear(&cur.ScanStartedAt, old.ScanStartedAt)
		clear(&cur.FinishedAt, old.FinishedAt)
		if cur.Reason == old.Reason {
			cur.Reason = ""
		}
		if cur.ScanAttempts == old.ScanAttempts {
			cur.ScanAttempts = 0
		}
		if cur.PresenceChecks == old.PresenceChecks {
			cur.PresenceChecks = 0
		}
		if cur.HSS == old.HSS {
			cur.HSS = HSSFacts{}
		}
		if cur.LastAnswer == old.LastAnswer {
			cur.LastAnswer = Answer{}
		}
		cur.Published = false
	}
}

// write stores data under key if the key's last revision is rev (0: if
// it has none), with the TerminalTTL when terminal. It publishes as the KV
// client's Update does, plus the TTL header the client offers only on
// Create.
func (s *Store) write(ctx context.Context, key string, data []byte, rev uint64, terminal bool) (uint64, error) {
	if !terminal {
		return s.kv.Update(ctx, key, data, rev)
	}
	m := &nats.Msg{Subject: s.putPrefix + key, Header: nats.Header{}, Data: data}
	ack, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(s.cfg.TerminalTTL))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// isWrongLastSeq: a compare-and-set lost (the revision moved), in any of
// the forms the client reports it.
func isWrongLastSeq(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == 10164)
}

// backoff is the pause before CAS attempt n+1: short and jittered, so two
// replicas that collided do not collide again in step.
func backoff(n int) time.Duration {
	d := time.Millisecond << min(n, 6)
	return d/2 + rand.N(d)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// scan calls fn with every record whose key matches subject, in the order
// of their last change, until fn returns false. Undecodable values are
// counted, not returned.
func (s *Store) scan(ctx context.Context, subject string, fn func(Record) bool) (undecodable int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.kv.Watch(ctx, subject, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, fmt.Errorf("list lifecycles %s: %w", subject, err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return undecodable, fmt.Errorf("list lifecycles %s: %w", subject, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return undecodable, fmt.Errorf("list lifecycles %s: watcher closed", subject)
			}
			if e == nil { // every current value was delivered
				return undecodable, nil
			}
			r, err := decode(e.Value())
			if err != nil {
				undecodable++
				continue
			}
			if !fn(r) {
				return undecodable, nil
			}
		}
	}
}

// List returns the records f selects, at most f.Limit (DefaultLimit when
// 0, never more than MaxLimit), in the order of their last change.
func (s *Store) List(ctx context.Context, f Filter) ([]Record, error) {
	if f.State != "" && !f.State.Valid() {
		return nil, fmt.Errorf("state %q: want one of %v", f.State, States)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var out []Record
	_, err := s.scan(ctx, f.subject(), func(r Record) bool {
		if f.State == "" || r.State == f.State {
			out = append(out, r)
		}
		return len(out) < limit
	})
	return out, err
}

// Pending returns the records in progress (not terminal), oldest
// AcceptedAt first, at most limit of them (0: all; the bucket's MaxBytes
// bounds that).
func (s *Store) Pending(ctx context.Context, limit int) ([]Record, error) {
	var out []Record
	_, err := s.scan(ctx, ">", func(r Record) bool {
		if !r.State.Terminal() {
			out = append(out, r)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Record) int { return a.AcceptedAt.Compare(b.AcceptedAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Counts is how many records are in each state, for metrics and status.
type Counts struct {
	ByState map[State]int `json:"by_state"`
	// OldestPending is the AcceptedAt of the oldest record in progress;
	// zero when none is.
	OldestPending time.Time `json:"oldest_pending,omitzero"`
	// Undecodable counts values that are not records (written by something
	// else, or by a newer bridge with an incompatible format).
	Undecodable int `json:"undecodable,omitempty"`
}

// Counts reads every record once. It costs a read of the bucket: cache it
// (the metrics collector does).
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	c := Counts{ByState: make(map[State]int, len(States))}
	for _, st := range States {
		c.ByState[st] = 0
	}
	n, err := s.scan(ctx, ">", func(r Record) bool {
		c.ByState[r.State]++
		if !r.State.Terminal() && !r.AcceptedAt.IsZero() && (c.OldestPending.IsZero() || r.AcceptedAt.Before(c.OldestPending)) {
			c.OldestPending = r.AcceptedAt
		}
		return true
	})
	c.Undecodable = n
	return c, err
}
