package queue

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MaxImagesPerCall is the most items one HSS batch-scan request may carry:
// the image_info_list array length limit "0 - 10241" of the request body in
// the API reference,
// https://support.huaweicloud.com/intl/en-us/api-hss2.0/BatchScanSwrImage_0.html
// ConsumerConfig.MaxItemsPerCall may not exceed it.
const MaxImagesPerCall = 10241

// Config is everything the queue needs to set up JetStream and run the
// batching consumer. The zero value of every field means "use the default";
// call WithDefaults then Validate (Open does both).
type Config struct {
	Stream   StreamConfig   `json:"stream" yaml:"stream" koanf:"stream"`
	DLQ      DLQConfig      `json:"dlq" yaml:"dlq" koanf:"dlq"`
	Consumer ConsumerConfig `json:"consumer" yaml:"consumer" koanf:"consumer"`
	Accepted AcceptedConfig `json:"accepted" yaml:"accepted" koanf:"accepted"`
}

// StreamConfig describes the job stream.
type StreamConfig struct {
	// Name of the stream. Default SCANJOBS.
	Name string `json:"name" yaml:"name" koanf:"name"`
	// SubjectPrefix is the first subject token(s); jobs are stored on
	// <prefix>.<image_type>.<escaped namespace>. Default "scanjobs".
	SubjectPrefix string `json:"subject_prefix" yaml:"subject_prefix" koanf:"subject_prefix"`
	// Replicas is the stream's replication factor: 1 on a single (embedded)
	// server, 3 in a cluster. Default 1.
	Replicas int `json:"replicas" yaml:"replicas" koanf:"replicas"`
	// MaxAge is how long a stored job waits at most. Default 7 days. A job
	// still unacknowledged after MaxAge is deleted by the server: an HSS
	// outage (or a bridge outage) longer than MaxAge loses the jobs stored
	// before it began, without a dead-letter record.
	MaxAge time.Duration `json:"max_age" yaml:"max_age" koanf:"max_age"`
	// Duplicates is the window in which a second job with the same
	// Nats-Msg-Id (scanjob.Job.ID) is dropped. Default 10 minutes: longer
	// than any registry's retry schedule we know of (distribution retries
	// with its own backoff; Harbor gives up after 3 tries). Cost: the server
	// keeps every message id of the window in memory (about 100-150 bytes
	// each), so 100k pushes in 10 minutes hold ~15 MB per stream replica.
	// The server forgets the ids of acked (deleted) jobs when it restarts;
	// the accepted set (Config.Accepted) remembers those HSS accepted for
	// the same window, so their retries are not scanned twice.
	Duplicates time.Duration `json:"duplicates" yaml:"duplicates" koanf:"duplicates"`
	// MaxBytes caps the stream's disk use; -1 (the default) is unlimited.
	// When full, new publishes fail (discard new) so the webhook answers 503
	// and the registry retries, instead of silently dropping old jobs.
	MaxBytes int64 `json:"max_bytes" yaml:"max_bytes" koanf:"max_bytes"`
	// Storage is "file" (default) or "memory" (tests only: a restart loses
	// every job).
	Storage string `json:"storage" yaml:"storage" koanf:"storage"`
}

// DLQConfig describes the dead-letter stream.
type DLQConfig struct {
	// Name of the stream. Default SCANJOBS_DLQ.
	Name string `json:"name" yaml:"name" koanf:"name"`
	// SubjectPrefix; records are stored on <prefix>.<image_type>.<escaped
	// namespace> so a namespace filter is a subject filter. Default
	// "scanjobs_dlq".
	SubjectPrefix string `json:"subject_prefix" yaml:"subject_prefix" koanf:"subject_prefix"`
	// MaxAge is how long a dead letter is kept for inspection and redrive.
	// Default 30 days.
	MaxAge time.Duration `json:"max_age" yaml:"max_age" koanf:"max_age"`
	// Replicas; 0 means the same as the job stream.
	Replicas int `json:"replicas" yaml:"replicas" koanf:"replicas"`
}

// AcceptedConfig describes the accepted set: a KV bucket that remembers,
// for one duplicate window (stream.duplicates) after HSS accepted it, the
// id of every job, so that a registry retry the job stream no longer
// recognises is acked without a second scan. The stream forgets the ids of
// acked jobs when the NATS server restarts (a WorkQueue deletes acked jobs,
// and the server rebuilds its duplicate window only from stored ones);
// with the embedded server that is every bridge restart. HSS scans are
// metered, so it is on by default.
//
// Cost: one KV record per accepted job, kept one duplicate window (10
// minutes by default): about 100-200 bytes each on disk (or in memory with
// memory storage) per replica, so 100k jobs accepted in a window hold
// 10-20 MB; plus one KV lookup per delivered job and one KV write per
// accepted job, both in batches and in parallel, off the batcher's loop.
// The bucket has the job stream's replicas and storage. When it cannot be
// reached, jobs are sent unchecked (a possible second scan, never a lost
// one) and the accepted_unchecked and accepted_record_errors counters say
// so.
type AcceptedConfig struct {
	// Disabled switches the accepted set off: no bucket is created and
	// only the stream's own duplicate window applies. The NATS user then
	// needs no rights on the bucket ($KV.<bucket>.> and its KV_<bucket>
	// stream).
	Disabled bool `json:"disabled" yaml:"disabled" koanf:"disabled"`
	// Bucket is the KV bucket's name. Default SCANJOBS_ACCEPTED.
	Bucket string `json:"bucket" yaml:"bucket" koanf:"bucket"`
}

// ConsumerConfig describes the durable consumer and the batcher.
type ConsumerConfig struct {
	// Durable is the durable consumer name, shared by every bridge replica
	// so they split the work instead of each scanning everything. Default
	// hss-batcher.
	Durable string `json:"durable" yaml:"durable" koanf:"durable"`
	// MaxItems is, with Packing ready, the number of distinct items
	// (scanjob.Job.ItemKey) that make one namespace group full and ready
	// to send. With Packing quota a full group asks for nothing (a full
	// call does); MaxItems is the most items one namespace takes per turn
	// of the round robin. Default 100.
	MaxItems int `json:"max_items" yaml:"max_items" koanf:"max_items"`
	// MaxItemsPerCall is the most items one HSS call carries when several
	// groups of one target are packed together; with Packing quota a target
	// with this many waiting asks for a permit without lingering. Default
	// 1000, at most MaxImagesPerCall, at least MaxItems.
	MaxItemsPerCall int `json:"max_items_per_call" yaml:"max_items_per_call" koanf:"max_items_per_call"`
	// Linger is how long a group waits for more items after its first one.
	// Default 5s. With Packing quota it bounds the wait of a target's
	// first item for a permit request, whichever namespace it is in.
	Linger time.Duration `json:"linger" yaml:"linger" koanf:"linger"`
	// Packing is when a target asks for a permit and what the permit
	// carries (docs/scheduling.md). PackQuota (default): a target asks when
	// its first item has lingered or a call's worth waits, and the permit
	// carries everything waiting for it, groups still lingering included,
	// up to MaxItemsPerCall, namespaces served by deficit round robin on
	// items. PackReady: a target asks when one of its namespace groups is
	// full or has lingered, and the permit carries only such groups, one
	// group per namespace in turn (the policy before quota, kept to
	// compare the two).
	Packing string `json:"packing" yaml:"packing" koanf:"packing"`
	// BackoffBase and BackoffCap bound the redelivery delay after a
	// retryable failure: base·2^(deliveries-1), capped. Defaults 5s and 5m.
	BackoffBase time.Duration `json:"backoff_base" yaml:"backoff_base" koanf:"backoff_base"`
	BackoffCap  time.Duration `json:"backoff_cap" yaml:"backoff_cap" koanf:"backoff_cap"`
	// BackoffJitter is the fraction (0 ≤ j < 1) taken off each delay at
	// random, so messages that failed together do not return together.
	// Default 0.2 (zero means the default: jitter is not switched off).
	// Jitter only shortens a delay, so the cap holds.
	BackoffJitter float64 `json:"backoff_jitter" yaml:"backoff_jitter" koanf:"backoff_jitter"`
	// Heartbeat is how often every held message (grouped, waiting for a
	// permit, or in an HSS call) is sent InProgress. Default 10s, at least
	// 1s. AckWait is derived from it.
	Heartbeat time.Duration `json:"heartbeat" yaml:"heartbeat" koanf:"heartbeat"`
	// CallTimeout bounds one Scanner.Scan call. Default 60s.
	CallTimeout time.Duration `json:"call_timeout" yaml:"call_timeout" koanf:"call_timeout"`
	// MaxHeld is how many messages one replica holds in memory at most
	// (grouped, ready, in flight, being dead-lettered). Fetches are sized to
	// the free room, so a backlog of any size stays in the stream, not in
	// RAM. Default 2 × MaxItemsPerCall; at least MaxItemsPerCall (or a
	// call could never be full). Twice, because the room holds the calls in
	// flight until HSS answers: with one call's worth, a slow HSS call (up
	// to hss.call_timeout) keeps the next call from being packed, and
	// hss.max_concurrent (2) would be one (faults/crash_test.go, "SIGKILL
	// while HSS calls are in flight", caught it). A call's worth costs
	// about 7 KB a message (peak RSS under scripts/bench.sh 63 MiB at
	// 2000, 49 MiB at 1000). A deployment whose receivers feed several
	// HSS targets with backlogs at once shares the room between them:
	// give it targets × max_items_per_call more. Pushes and the background lanes (sweep,
	// schedule, redrive) have a room of MaxHeld each, with a durable each
	// (jetstreamBackgroundConsumer): a background backlog filling the
	// pushes' room would keep a push in the stream for a call or more. So
	// a replica holds up to 2 × MaxHeld while both have backlogs.
	MaxHeld int `json:"max_held" yaml:"max_held" koanf:"max_held"`
	// InfoInterval is how often consumer info (pending counts) is read for
	// the metrics. Default 15s.
	InfoInterval time.Duration `json:"info_interval" yaml:"info_interval" koanf:"info_interval"`
}

// Packing policies: ConsumerConfig.Packing.
const (
	PackQuota = "quota"
	PackReady = "ready"
)

// Defaults.
const (
	DefaultStreamName      = "SCANJOBS"
	DefaultSubjectPrefix   = "scanjobs"
	DefaultMaxAge          = 7 * 24 * time.Hour
	DefaultDuplicates      = 10 * time.Minute
	DefaultDLQName         = "SCANJOBS_DLQ"
	DefaultDLQPrefix       = "scanjobs_dlq"
	DefaultDLQMaxAge       = 30 * 24 * time.Hour
	DefaultAcceptedBucket  = "SCANJOBS_ACCEPTED"
	DefaultDurable         = "hss-batcher"
	DefaultMaxItems        = 100
	DefaultMaxItemsPerCall = 1000
	DefaultLinger          = 5 * time.Second
	DefaultPacking         = PackQuota
	DefaultBackoffBase     = 5 * time.Second
	DefaultBackoffCap      = 5 * time.Minute
	DefaultBackoffJitter   = 0.2
	DefaultHeartbeat       = 10 * time.Second
	DefaultCallTimeout     = 60 * time.Second
	DefaultInfoInterval    = 15 * time.Second
)

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	s := &c.Stream
	s.Name = cmp.Or(s.Name, DefaultStreamName)
	s.SubjectPrefix = cmp.Or(s.SubjectPrefix, DefaultSubjectPrefix)
	s.Replicas = cmp.Or(s.Replicas, 1)
	s.MaxAge = cmp.Or(s.MaxAge, DefaultMaxAge)
	s.Duplicates = cmp.Or(s.Duplicates, DefaultDuplicates)
	s.MaxBytes = cmp.Or(s.MaxBytes, -1)
	s.Storage = cmp.Or(s.Storage, "file")

	d := &c.DLQ
	d.Name = cmp.Or(d.Name, DefaultDLQName)
	d.SubjectPrefix = cmp.Or(d.SubjectPrefix, DefaultDLQPrefix)
	d.MaxAge = cmp.Or(d.MaxAge, DefaultDLQMaxAge)
	d.Replicas = cmp.Or(d.Replicas, s.Replicas)

	c.Accepted.Bucket = cmp.Or(c.Accepted.Bucket, DefaultAcceptedBucket)

	k := &c.Consumer
	k.Durable = cmp.Or(k.Durable, DefaultDurable)
	k.MaxItems = cmp.Or(k.MaxItems, DefaultMaxItems)
	k.MaxItemsPerCall = cmp.Or(k.MaxItemsPerCall, DefaultMaxItemsPerCall)
	k.Linger = cmp.Or(k.Linger, DefaultLinger)
	k.Packing = cmp.Or(k.Packing, DefaultPacking)
	k.BackoffBase = cmp.Or(k.BackoffBase, DefaultBackoffBase)
	k.BackoffCap = cmp.Or(k.BackoffCap, DefaultBackoffCap)
	k.BackoffJitter = cmp.Or(k.BackoffJitter, DefaultBackoffJitter)
	k.Heartbeat = cmp.Or(k.Heartbeat, DefaultHeartbeat)
	k.CallTimeout = cmp.Or(k.CallTimeout, DefaultCallTimeout)
	k.MaxHeld = cmp.Or(k.MaxHeld, 2*k.MaxItemsPerCall)
	k.InfoInterval = cmp.Or(k.InfoInterval, DefaultInfoInterval)
	return c
}

// ErrInvalidConfig is wrapped by every Validate error.
var ErrInvalidConfig = errors.New("invalid queue config")

// Validate reports every setting that cannot work, joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	s, d, k := c.Stream, c.DLQ, c.Consumer

	if !validName(s.Name) {
		bad("stream.name %q must be non-empty without spaces, '.', '*', '>'", s.Name)
	}
	if !validName(d.Name) {
		bad("dlq.name %q must be non-empty without spaces, '.', '*', '>'", d.Name)
	}
	if s.Name == d.Name {
		bad("dlq.name must differ from stream.name %q", s.Name)
	}
	if !validPrefix(s.SubjectPrefix) {
		bad("stream.subject_prefix %q must be dot-separated literal tokens", s.SubjectPrefix)
	}
	if !validPrefix(d.SubjectPrefix) {
		bad("dlq.subject_prefix %q must be dot-separated literal tokens", d.SubjectPrefix)
	}
	if overlaps(s.SubjectPrefix, d.SubjectPrefix) {
		bad("dlq.subject_prefix %q overlaps stream.subject_prefix %q", d.SubjectPrefix, s.SubjectPrefix)
	}
	if s.Replicas < 1 || s.Replicas > 5 {
		bad("stream.replicas %d must be 1-5", s.Replicas)
	}
	if d.Replicas < 1 || d.Replicas > 5 {
		bad("dlq.replicas %d must be 1-5", d.Replicas)
	}
	if s.MaxAge <= 0 || d.MaxAge <= 0 {
		bad("max_age must be positive (stream %s, dlq %s)", s.MaxAge, d.MaxAge)
	}
	if s.Duplicates <= 0 || s.Duplicates > min(s.MaxAge, d.MaxAge) {
		bad("stream.duplicates %s must be positive and at most the max_age of both streams (%s, %s)", s.Duplicates, s.MaxAge, d.MaxAge)
	}
	if s.MaxBytes == 0 || s.MaxBytes < -1 {
		bad("stream.max_bytes %d must be -1 (unlimited) or positive", s.MaxBytes)
	}
	if s.Storage != "file" && s.Storage != "memory" {
		bad("stream.storage %q must be file or memory", s.Storage)
	}
	if a := c.Accepted; !a.Disabled {
		// KV bucket names are stricter than stream names, and the bucket
		// is the stream KV_<bucket>.
		if !validBucket.MatchString(a.Bucket) {
			bad("accepted.bucket %q must be letters, digits, '-' and '_' only", a.Bucket)
		}
		if kvStream := "KV_" + a.Bucket; kvStream == s.Name || kvStream == d.Name {
			bad("accepted.bucket %q is stored as stream %s, which stream.name or dlq.name already is", a.Bucket, kvStream)
		}
	}
	if !validName(k.Durable) {
		bad("consumer.durable %q must be non-empty without spaces, '.', '*', '>'", k.Durable)
	}
	if k.MaxItems < 1 {
		bad("consumer.max_items %d must be at least 1", k.MaxItems)
	}
	if k.MaxItemsPerCall < k.MaxItems || k.MaxItemsPerCall > MaxImagesPerCall {
		bad("consumer.max_items_per_call %d must be between max_items %d and the HSS limit %d",
			k.MaxItemsPerCall, k.MaxItems, MaxImagesPerCall)
	}
	if k.MaxHeld < k.MaxItemsPerCall {
		bad("consumer.max_held %d must be at least max_items_per_call %d", k.MaxHeld, k.MaxItemsPerCall)
	}
	if k.Linger <= 0 {
		bad("consumer.linger %s must be positive", k.Linger)
	}
	if k.Packing != PackQuota && k.Packing != PackReady {
		bad("consumer.packing %q must be %s or %s", k.Packing, PackQuota, PackReady)
	}
	if k.BackoffBase <= 0 || k.BackoffCap < k.BackoffBase {
		bad("consumer.backoff_base %s must be positive and at most backoff_cap %s", k.BackoffBase, k.BackoffCap)
	}
	if k.BackoffJitter < 0 || k.BackoffJitter >= 1 {
		bad("consumer.backoff_jitter %g must be in [0, 1)", k.BackoffJitter)
	}
	if k.Heartbeat < time.Second {
		bad("consumer.heartbeat %s must be at least 1s", k.Heartbeat)
	}
	if k.CallTimeout <= 0 {
		bad("consumer.call_timeout %s must be positive", k.CallTimeout)
	}
	if k.InfoInterval <= 0 {
		bad("consumer.info_interval %s must be positive", k.InfoInterval)
	}
	return errors.Join(errs...)
}

var validBucket = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n.*>/\\")
}

func validPrefix(p string) bool {
	if p == "" {
		return false
	}
	for _, tok := range strings.Split(p, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n*>") {
			return false
		}
	}
	return true
}

// overlaps reports whether one prefix's subjects would fall under the other.
func overlaps(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+".") || strings.HasPrefix(b, a+".")
}

// AckWait is derived from the heartbeat: three heartbeats. Every message
// this bridge holds is sent InProgress each Heartbeat from the moment the
// batcher receives it until it is acked, nakked or termed, so while a
// replica lives AckWait never expires, however long a group lingers, waits
// for a permit or sits in a slow HSS call. That avoids redelivery while
// still held: with a fixed AckWait, a message that waits in a batch longer
// than AckWait is delivered again while its first delivery is still held,
// which is why batching consumers ask for an AckWait longer than their
// batching time (https://github.com/redpanda-data/connect/issues/1106,
// https://github.com/nats-io/nats.go/issues/1929). Keeping it short (not
// "longer than the longest batch") is what makes a crashed replica's
// messages come back to the others quickly: redelivery after a disconnect
// waits the full AckWait (https://github.com/nats-io/nats-server/issues/4627).
// Two missed heartbeats are tolerated.
func (k ConsumerConfig) AckWait() time.Duration { return 3 * k.Heartbeat }

// MaxAckPending is derived from MaxHeld: four replicas' worth of held
// messages. The server counts against it every message delivered and not
// yet acked or termed by any replica, including messages nakked with a
// delay that wait for redelivery. What one replica holds in RAM is bounded
// client-side by MaxHeld (each fetch asks for at most the free room), so
// this cap is the cluster-wide one: it lets about four replicas fill their
// room, and during an HSS outage it stops the consumer from pulling ever
// more of the backlog into retry cycles. A consumer that waits for a full
// batch larger than this cap stalls: the server stops delivering at the
// cap, so the batch never fills and nothing is acked
// (https://github.com/nats-io/nats-server/issues/2488 is a consumer stopped
// at its cap). The batcher cannot: no group waits for more messages than it
// has, a linger timer flushes partial groups, and MaxHeld ≥
// MaxItemsPerCall.
func (k ConsumerConfig) MaxAckPending() int { return 4 * k.MaxHeld }

// MaxDeliver is unlimited (-1). A job must survive an HSS outage as long as
// the stream keeps it (MaxAge); with the backoff cap of 5 minutes a
// seven-day outage is about 2000 deliveries. A finite MaxDeliver would make
// the server silently stop delivering a message that is still in the
// stream: lost without a dead letter. A job that can never succeed is not
// retried forever: HSS rejects it (Permanent), bisection isolates it, and
// it is termed into the dead-letter stream.
func (k ConsumerConfig) MaxDeliver() int { return -1 }

// BackOff (the server-side redelivery schedule) is left empty on purpose.
// The server applies BackOff[n] instead of AckWait when checking whether a
// delivered message expired, and forces AckWait to BackOff[0]; a
// NakWithDelay is timed against AckWait, so with a BackOff the delays we
// ask for would be shifted by BackOff[n]-AckWait (nats-server
// consumer.go checkPending). Retry delays are chosen per outcome by the
// batcher instead (NakWithDelay with jitter, capped), and the only
// redelivery left to the server is that of a crashed replica, for which the
// short, fixed AckWait is right.
func (k ConsumerConfig) BackOff() []time.Duration { return nil }

// jetstreamConsumer is the durable pull consumer's configuration.
func (c Config) jetstreamConsumer() jetstream.ConsumerConfig {
	k := c.Consumer
	return jetstream.ConsumerConfig{
		Durable:       k.Durable,
		Description:   "scan-bridge: batches scan jobs into HSS batch-scan calls",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       k.AckWait(),
		MaxDeliver:    k.MaxDeliver(),
		BackOff:       k.BackOff(),
		// Pushes only: <prefix>.<image_type>.<namespace>. Background
		// lanes have a fourth token and their own durable (below).
		FilterSubject: c.Stream.SubjectPrefix + ".*.*",
		MaxAckPending: k.MaxAckPending(),
		// No MaxRequestBatch: fetches are already sized to MaxHeld, and the
		// durable is shared, so during a rolling config change a replica
		// with a larger MaxHeld than the last Open set would have every
		// fetch refused.
	}
}

// jetstreamBackgroundConsumer is the durable pull consumer of the
// background lanes (laneSubject): <durable>-background, on the subjects
// of four tokens after the prefix's, with the push consumer's settings.
// A WorkQueue stream allows two consumers whose filters do not overlap,
// and these two differ in their number of tokens. Each has its own fetch
// loop and room (max_held each), so a background backlog in the stream
// never stands between a push and the batcher.
func (c Config) jetstreamBackgroundConsumer() jetstream.ConsumerConfig {
	cc := c.jetstreamConsumer()
	cc.Durable = c.Consumer.BackgroundDurable()
	cc.Description = "scan-bridge: batches background scan jobs (sweep, schedule, redrive) into the room pushes leave"
	cc.FilterSubject = c.Stream.SubjectPrefix + ".*.*.*"
	return cc
}

// BackgroundDurable is the name of the background lanes' durable
// consumer: Durable + "-background".
func (k ConsumerConfig) BackgroundDurable() string { return k.Durable + "-background" }

func (s StreamConfig) jetstream() jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if s.Storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	return jetstream.StreamConfig{
		Name:        s.Name,
		Description: "scan-bridge: scan jobs waiting for HSS",
		Subjects:    []string{s.SubjectPrefix + ".>"},
		// WorkQueue: a job is deleted once acked or termed, so the stream
		// holds the backlog and nothing else. Only one consumer may read it,
		// which is the design (one durable shared by all replicas); it must
		// deliver all (argo-events#3377 is what happens otherwise).
		Retention:  jetstream.WorkQueuePolicy,
		Discard:    jetstream.DiscardNew,
		MaxAge:     s.MaxAge,
		MaxBytes:   s.MaxBytes,
		MaxMsgs:    -1,
		Storage:    storage,
		Replicas:   s.Replicas,
		Duplicates: s.Duplicates,
	}
}

func (c Config) jetstreamDLQ() jetstream.StreamConfig {
	d := c.DLQ
	storage := jetstream.FileStorage
	if c.Stream.Storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	return jetstream.StreamConfig{
		Name:        d.Name,
		Description: "scan-bridge: scan jobs HSS refused, for inspection and redrive",
		Subjects:    []string{d.SubjectPrefix + ".>"},
		// Limits: records stay until MaxAge or until an operator redrives
		// or purges them (which deletes them one by one).
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
		MaxAge:    d.MaxAge,
		MaxBytes:  -1,
		MaxMsgs:   -1,
		Storage:   storage,
		Replicas:  d.Replicas,
		// A record is published with the original stream sequence as its id,
		// so one message dead-lettered twice (its Term was lost) is one record.
		Duplicates: c.Stream.Duplicates,
	}
}
