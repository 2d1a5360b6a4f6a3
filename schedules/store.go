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

// claimFire creates the fire's claim: true when this replica won it,
// false when another replica had.
func claimFire(ctx context.Context, kv jetstream.KeyValue, schedule string, fire time.Time, replica string, now time.Time) (bool, error) {
	b, _ := json.Marshal(claim{Replica: replica, ClaimedAt: now.UTC()})
	_, err := kv.Create(ctx, ClaimKey(schedule, fire), b, jetstream.KeyTTL(ClaimTTL))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	}
	return false, fmt.Errorf("claim %s: %w", ClaimKey(schedule, fire), err)
}

// Results of a run.
const (
	ResultRunning = "running"
	ResultOK      = "ok"
	ResultFailed  = "failed"
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
