package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/scan-bridge/scan-bridge/lifecycle"
)

// LifecycleConfig is the lifecycle block: where every image's lifecycle
// record lives (a JetStream KV bucket every replica shares) and the
// stream its result events go to (package lifecycle). Each setting is
// read when the bridge starts: a reload cannot apply a change, which
// RestartNeeded reports like any other non-reloadable setting.
type LifecycleConfig struct {
	// Bucket is the KV bucket of the records; every replica of a
	// deployment, and bridge status, name the same one.
	Bucket string `koanf:"bucket" validate:"required,max=64"`
	// Replicas of the bucket's stream; 0 takes the job stream's
	// (queue.stream.replicas), so the records survive what the jobs do.
	Replicas int `koanf:"replicas" validate:"min=0,max=5"`
	// TerminalTTL is how long a finished record is kept after its last
	// change; records in progress never expire.
	TerminalTTL time.Duration `koanf:"terminal_ttl" validate:"min=1s"`
	// MaxBytes bounds the bucket (some 2.5 KiB a record); a full bucket
	// refuses new records instead of dropping old ones.
	MaxBytes int64 `koanf:"max_bytes" validate:"min=1048576"`
	// Timeout bounds one KV read or write.
	Timeout time.Duration `koanf:"timeout" validate:"min=1ms"`
	// MetricsCache is how long the scanbridge_images gauges reuse one
	// read of the bucket: a scrape reads every key, so scrapes more
	// frequent than this cost nothing more.
	MetricsCache time.Duration `koanf:"metrics_cache" validate:"min=1s"`
	// Results is the stream of result events, one per finished image.
	Results ResultsConfig `koanf:"results"`
}

// ResultsConfig is lifecycle.results: the stream of CloudEvents, one per
// image that reached scanned, scan_failed or given_up.
type ResultsConfig struct {
	Stream string `koanf:"stream" validate:"required,max=64"`
	// Subject is the prefix: an image of namespace ns is published on
	// <subject>.<ns>.
	Subject string `koanf:"subject" validate:"required,max=128"`
	// Replicas of the stream; 0 takes the job stream's.
	Replicas int           `koanf:"replicas" validate:"min=0,max=5"`
	MaxAge   time.Duration `koanf:"max_age" validate:"min=1m"`
	MaxBytes int64         `koanf:"max_bytes" validate:"min=1048576"`
	// Duplicates is the window in which an event published again (same
	// id, e.g. by a replica that took over) is dropped; at most max_age.
	Duplicates time.Duration `koanf:"duplicates" validate:"min=1s"`
	// Source is the events' CloudEvents source attribute.
	Source string `koanf:"source" validate:"required,max=256"`
}

// DefaultLifecycle is the lifecycle block's defaults, those of package
// lifecycle, with both replicas at 0 (the job stream's).
func DefaultLifecycle() LifecycleConfig {
	return LifecycleConfig{
		Bucket:       lifecycle.DefaultBucket,
		TerminalTTL:  lifecycle.DefaultTerminalTTL,
		MaxBytes:     lifecycle.DefaultMaxBytes,
		Timeout:      lifecycle.DefaultTimeout,
		MetricsCache: lifecycle.DefaultMetricsCache,
		Results: ResultsConfig{
			Stream:     lifecycle.DefaultResultsStream,
			Subject:    lifecycle.DefaultResultsSubject,
			MaxAge:     lifecycle.DefaultResultsMaxAge,
			MaxBytes:   lifecycle.DefaultResultsMaxBytes,
			Duplicates: lifecycle.DefaultResultsDuplicates,
			Source:     lifecycle.DefaultEventSource,
		},
	}
}

// Store and ResultStream are the lifecycle package's configurations
// this block stands for, replicas 0 replaced by jobReplicas (the job
// stream's): what serve opens.
func (c LifecycleConfig) Store(jobReplicas int) lifecycle.Config {
	return lifecycle.Config{Bucket: c.Bucket, Replicas: orReplicas(c.Replicas, jobReplicas),
		TerminalTTL: c.TerminalTTL, MaxBytes: c.MaxBytes, Timeout: c.Timeout}.WithDefaults()
}

// ResultStream: see Store.
func (c LifecycleConfig) ResultStream(jobReplicas int) lifecycle.ResultsConfig {
	r := c.Results
	return lifecycle.ResultsConfig{Stream: r.Stream, Subject: r.Subject, Replicas: orReplicas(r.Replicas, jobReplicas),
		MaxAge: r.MaxAge, MaxBytes: r.MaxBytes, Duplicates: r.Duplicates, Source: r.Source}.WithDefaults()
}

func orReplicas(n, jobReplicas int) int {
	if n == 0 {
		return jobReplicas
	}
	return n
}

// natsName is what JetStream accepts as a bucket or stream name.
var natsName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// natsSubject is a subject of literal tokens (no wildcards).
var natsSubject = regexp.MustCompile(`^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$`)

// lifecycleProblems checks what the validate tags cannot say: the names'
// characters, names and subjects taken by the queue or the shared limit,
// the subject's tokens, duplicates within max_age. Settings
// already reported by their tags (reported) are not reported again.
func (c Config) lifecycleProblems(reported map[string]bool) []string {
	l := c.Lifecycle
	var lines []string
	add := func(path, what string) {
		if !reported[path] {
			lines = append(lines, problem(lookup(path), path, what))
		}
	}
	if l.Bucket != "" && !natsName.MatchString(l.Bucket) {
		add("lifecycle.bucket", fmt.Sprintf("%q may hold only letters, digits, '-' and '_'", l.Bucket))
	}
	for _, other := range []struct{ path, bucket string }{
		{"hss.limit_kv.bucket", c.HSS.LimitKV.WithDefaults().Bucket},
		{"queue.accepted.bucket", c.Queue.WithDefaults().Accepted.Bucket},
	} {
		if l.Bucket == other.bucket {
			add("lifecycle.bucket", fmt.Sprintf("%q is %s too; the lifecycle records need a bucket of their own", l.Bucket, other.path))
		}
	}
	if q := c.Queue.WithDefaults(); l.Results.Stream == q.Stream.Name || l.Results.Stream == q.DLQ.Name {
		add("lifecycle.results.stream", fmt.Sprintf("%q is the job or dead-letter stream's name; results need a stream of their own", l.Results.Stream))
	}
	if l.Results.Stream != "" && !natsName.MatchString(l.Results.Stream) {
		add("lifecycle.results.stream", fmt.Sprintf("%q may hold only letters, digits, '-' and '_'", l.Results.Stream))
	}
	if s := l.Results.Subject; s != "" && !natsSubject.MatchString(s) {
		add("lifecycle.results.subject", fmt.Sprintf("%q must be dot-separated tokens of letters, digits, '-' and '_' (no wildcards)", s))
	}
	if s := l.Results.Subject; s == c.Queue.WithDefaults().Stream.SubjectPrefix || strings.HasPrefix(s, c.Queue.WithDefaults().Stream.SubjectPrefix+".") {
		add("lifecycle.results.subject", fmt.Sprintf("%q overlaps queue.stream.subject_prefix: results and jobs need subjects of their own", s))
	}
	if r := l.Results; r.Duplicates > r.MaxAge && r.MaxAge > 0 {
		add("lifecycle.results.duplicates", fmt.Sprintf("%s must be at most lifecycle.results.max_age (%s)", durationString(r.Duplicates), durationString(r.MaxAge)))
	}
	return lines
}
