package sources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the JetStream KV bucket of every source's checkpoints, round
// records and leases.
const Bucket = "scanbridge_sources"

// bucketMaxBytes bounds the bucket: a full bucket refuses new
// checkpoints (the round reports it) rather than dropping old ones. A
// checkpoint holds at most limits.max_tags (2000) tag → digest pairs,
// some 400 KiB at most and a few KiB as a rule.
const bucketMaxBytes = 256 << 20

// OpenBucket creates the sources bucket or updates it (idempotent, every
// replica does it at start).
func OpenBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: Bucket,
		Description: "scan-bridge sources: checkpoints, last rounds, leases", History: 1,
		Replicas: max(replicas, 1), MaxBytes: bucketMaxBytes, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("open kv bucket %s: %w", Bucket, err)
	}
	return kv, nil
}

// Keys: "ckpt.<source>.<repository>" (one per repository polled),
// "round.<source>" (the last round) and "lease.<source>" (the replica
// polling it).

// LeaseKey is the key of a source's lease.
func LeaseKey(source string) string { return "lease." + source }

func roundKey(source string) string { return "round." + source }

func checkpointPrefix(source string) string { return "ckpt." + source + "." }

func checkpointKey(source, repo string) string { return checkpointPrefix(source) + repoToken(repo) }

// repoToken is a repository as one KV key token: lower-case letters,
// digits, '-', '_' and '/' kept, every other byte (the dot above all,
// which separates tokens) escaped as =XX; hashed when longer than 200.
func repoToken(repo string) string {
	var b strings.Builder
	for i := 0; i < len(repo); i++ {
		c := repo[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '/' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	if b.Len() == 0 {
		return "=_"
	}
	if b.Len() > 200 {
		sum := sha256.Sum256([]byte(repo))
		return "=H" + hex.EncodeToString(sum[:16])
	}
	return b.String()
}

// checkpoint is what a source last saw of one repository: each tag's
// manifest digest. A tag whose digest differs (or is new) is a push.
type checkpoint struct {
	Repository string            `json:"repository"`
	Tags       map[string]string `json:"tags"`
	CheckedAt  time.Time         `json:"checked_at"`
	// UpdatedAt is the repository's update time (kind swr) when every
	// tag of it last settled: a round skips the repository while SWR
	// reports that same time.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// RoundRecord is a source's last round, for `bridge sources list` and for
// the replica that takes the lease over.
type RoundRecord struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Result   string    `json:"result"`
	Error    string    `json:"error,omitempty"`
	// LastSuccess is when the last round that was not an error finished.
	LastSuccess  time.Time `json:"last_success,omitzero"`
	Repositories int       `json:"repositories"`
	Tags         int       `json:"tags"`
	Enqueued     int       `json:"enqueued"`
	Found        int       `json:"found"`
	// Resume is the repository after which the next round goes on, when
	// this one stopped at a limit; empty when it reached the end.
	Resume string `json:"resume,omitempty"`
	// Baseline is when the first pass over the whole registry ended.
	// The sweep counts nothing before it: what exists when a source
	// starts is no webhook's loss.
	Baseline time.Time `json:"baseline,omitzero"`
}

// getJSON reads key into v; a missing key, or no bucket at all (a dry
// run where no bridge ever ran), leaves v zero.
func getJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	if kv == nil {
		return 0, nil
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	return e.Revision(), nil
}

// ReadRound returns a source's last round (zero when it never ran).
func ReadRound(ctx context.Context, kv jetstream.KeyValue, source string) (RoundRecord, error) {
	var r RoundRecord
	_, err := getJSON(ctx, kv, roundKey(source), &r)
	return r, err
}

// LeaseHolder returns who holds a source's lease and when the holder last
// renewed it on its own clock ("" when nobody does). The value is the one
// scanner.Lease writes.
func LeaseHolder(ctx context.Context, kv jetstream.KeyValue, source string) (string, time.Time, error) {
	var v struct {
		Holder  string    `json:"holder"`
		Renewed time.Time `json:"renewed"`
	}
	_, err := getJSON(ctx, kv, LeaseKey(source), &v)
	return v.Holder, v.Renewed, err
}

// CheckpointSize counts a source's checkpoint keys (repositories) and
// their bytes.
func CheckpointSize(ctx context.Context, kv jetstream.KeyValue, source string) (keys int, bytes int, err error) {
	if kv == nil {
		return 0, 0, nil
	}
	lister, err := kv.ListKeysFiltered(ctx, checkpointPrefix(source)+">")
	if err != nil {
		return 0, 0, fmt.Errorf("list checkpoints of %s: %w", source, err)
	}
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		keys++
		bytes += len(e.Value())
	}
	return keys, bytes, nil
}
