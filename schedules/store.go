package schedules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the JetStream KV bucket of the schedules' claims and last
// runs.
const Bucket = "scanbridge_schedules"

// ClaimTTL is how long a fire's claim is kept: far longer than any
// replica could still try that fire on time (a minute), and long enough
// for a catch-up to see the claim of a run still under way. After it the
// claim expires on its own; a later catch-up goes by the last run.
const ClaimTTL = 24 * time.Hour

// bucketMaxBytes bounds the bucket. 32 schedules firing every minute
// hold some 46,000 claims of a few hundred bytes each within ClaimTTL.
const bucketMaxBytes = 64 << 20

// markerTTL is how long the marker of an expired claim stays
// (JetStream needs one for per-key TTLs).
const markerTTL = time.Minute

// OpenBucket creates the schedules bucket or updates it (idempotent,
// every replica does it at start).
func OpenBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: Bucket,
		Description: "scan-bridge schedules: claims of fires, last runs", History: 1,
		Replicas: max(replicas, 1), MaxBytes: bucketMaxBytes, Storage: jetstream.FileStorage,
		LimitMarkerTTL: markerTTL})
	if err != nil {
		return nil, fmt.Errorf("open kv bucket %s: %w", Bucket, err)
	}
	return kv, nil
}

// AttachBucket opens the bucket without creating or changing it, for
// `bridge schedules list`.
func AttachBucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	if err != nil {
		return nil, fmt.Errorf("open kv bucket %s: %w", Bucket, err)
	}
	return kv, nil
}

// ClaimKey is the key of one fire's claim.
func ClaimKey(schedule string, fire time.Time) string {
	return "claim." + schedule + "." + strconv.FormatInt(fire.Unix(), 10)
}

func lastKey(schedule string) string { return "last." + schedule }

// claim is the value of a claim key.
type claim struct {
	Replica   string    `json:"replica"`
	ClaimedAt time.Time `json:"claimed_at"`
}

// claimFire creates the fire's claim: won is true when this replica won
// it, false when another replica holds it; rev is the claim's revision,
// for releaseClaim. A claim older than stale is taken over: a run is
// bounded by its timeout, so the replica that made it died without giving
// it back (a crash, a kill), and its fire would otherwise be lost until
// ClaimTTL. The takeover deletes the old claim at its revision, so of two
// replicas taking over at once one wins.
func claimFire(ctx context.Context, kv jetstream.KeyValue, schedule string, fire time.Time, replica string, now time.Time, stale time.Duration) (rev uint64, won bool, err error) {
	key := ClaimKey(schedule, fire)
	b, _ := json.Marshal(claim{Replica: replica, ClaimedAt: now.UTC()})
	for range 2 {
		rev, err = kv.Create(ctx, key, b, jetstream.KeyTTL(ClaimTTL))
		if err == nil {
			return rev, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, false, fmt.Errorf("claim %s: %w", key, err)
		}
		e, gerr := kv.Get(ctx, key)
		switch {
		case errors.Is(gerr, jetstream.ErrKeyNotFound), errors.Is(gerr, jetstream.ErrKeyDeleted):
			continue // released or expired since: try again
		case gerr != nil:
			return 0, false, fmt.Errorf("read claim %s: %w", key, gerr)
		}
		var held claim
		if json.Unmarshal(e.Value(), &held) == nil && now.Sub(held.ClaimedAt) <= stale {
			return 0, false, nil
		}
		if perr := kv.Purge(ctx, key, jetstream.LastRevision(e.Revision()), jetstream.PurgeTTL(markerTTL)); perr != nil {
			if isWrongLastSeq(perr) {
				return 0, false, nil // another replica took it over first
			}
			return 0, false, fmt.Errorf("take over stale claim %s: %w", key, perr)
		}
	}
	return 0, false, nil
}

// releaseClaim gives a claim back (the run was cut off by a shutdown
// before it ended), so that a catch-up can run the fire again. It deletes
// only the claim at rev: a claim some other replica took since is kept.
func releaseClaim(ctx context.Context, kv jetstream.KeyValue, schedule string, fire time.Time, rev uint64) error {
	err := kv.Purge(ctx, ClaimKey(schedule, fire), jetstream.LastRevision(rev), jetstream.PurgeTTL(markerTTL))
	if err != nil && !isWrongLastSeq(err) {
		return fmt.Errorf("release claim %s: %w", ClaimKey(schedule, fire), err)
	}
	return nil
}

// ownClaim is the revision of the fire's claim when this replica holds
// it: for a claim whose Create reached the server but whose answer did
// not reach the replica (cut off by a shutdown).
func ownClaim(ctx context.Context, kv jetstream.KeyValue, schedule string, fire time.Time, replica string, at time.Time) (uint64, bool) {
	e, err := kv.Get(ctx, ClaimKey(schedule, fire))
	if err != nil {
		return 0, false
	}
	var c claim
	if json.Unmarshal(e.Value(), &c) != nil || c.Replica != replica || !c.ClaimedAt.Equal(at.UTC()) {
		return 0, false
	}
	return e.Revision(), true
}

// Results of a run.
const (
	ResultRunning = "running"
	ResultOK      = "ok"
	ResultFailed  = "failed"
	// ResultInterrupted is a run a shutdown cut off: its claim was given
	// back and a catch-up runs the fire again.
	ResultInterrupted = "interrupted"
	// ResultMissed is a fire no replica ran on time (metrics only).
	ResultMissed = "missed"
)

// LastRun is a schedule's last run, as the replica that ran it recorded.
type LastRun struct {
	Schedule string    `json:"schedule"`
	Action   string    `json:"action"`
	Fire     time.Time `json:"fire"`
	Replica  string    `json:"replica"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Result   string    `json:"result"`
	// Found and Sent count a rescan's images: selected, and whose job was
	// stored; Failed the jobs that could not be.
	Found  int `json:"found,omitempty"`
	Sent   int `json:"sent,omitempty"`
	Failed int `json:"failed,omitempty"`
	// Error is why the run failed.
	Error string `json:"error,omitempty"`
}

// ReadLastRun returns a schedule's last run; ok is false when none is
// recorded.
func ReadLastRun(ctx context.Context, kv jetstream.KeyValue, schedule string) (LastRun, bool, error) {
	lr, _, err := readLast(ctx, kv, schedule)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return LastRun{}, false, nil
	}
	return lr, err == nil, err
}

func readLast(ctx context.Context, kv jetstream.KeyValue, schedule string) (LastRun, uint64, error) {
	e, err := kv.Get(ctx, lastKey(schedule))
	if errors.Is(err, jetstream.ErrKeyDeleted) {
		err = jetstream.ErrKeyNotFound
	}
	if err != nil {
		return LastRun{}, 0, err
	}
	var lr LastRun
	if err := json.Unmarshal(e.Value(), &lr); err != nil {
		return LastRun{}, e.Revision(), fmt.Errorf("decode %s: %w", lastKey(schedule), err)
	}
	return lr, e.Revision(), nil
}

// writeLast records lr unless a later fire's run is recorded already
// (two replicas can run consecutive fires at once when a run overran).
func writeLast(ctx context.Context, kv jetstream.KeyValue, lr LastRun) error {
	b, err := json.Marshal(lr)
	if err != nil {
		return err
	}
	for range 5 {
		cur, rev, err := readLast(ctx, kv, lr.Schedule)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = kv.Create(ctx, lastKey(lr.Schedule), b)
		case err != nil && rev == 0:
			return fmt.Errorf("read %s: %w", lastKey(lr.Schedule), err)
		case err == nil && cur.Fire.After(lr.Fire):
			return nil
		default: // the stored one is older, or undecodable: replace it
			_, err = kv.Update(ctx, lastKey(lr.Schedule), b, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongLastSeq(err) {
			return fmt.Errorf("write %s: %w", lastKey(lr.Schedule), err)
		}
	}
	return fmt.Errorf("write %s: kept changing", lastKey(lr.Schedule))
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
