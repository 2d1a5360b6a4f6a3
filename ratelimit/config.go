package ratelimit

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Defaults. The ceiling and burst are the HSS ones.
const (
	// DefaultCallsPerMinute is the HSS quota: "a single user or IP address
	// can access an API for up to five times/minute" (Limitations and
	// Constraints,
	// https://support.huaweicloud.com/intl/en-us/api-hss2.0/hss_02_0005.html).
	DefaultCallsPerMinute = 5
	// DefaultBurst is 1, not 5. The gateway's window is not documented: a
	// token bucket of 5 per minute with a burst of 5 lets 5 calls through
	// at once and then one every 12 s, which puts 9 calls in the minute
	// after the burst and is refused by a sliding one-minute window. With
	// a burst of 1 (one call every 12.24 s, with DefaultMargin) no
	// 60-second window, sliding or fixed, holds more than 5 calls. The
	// price is up to 12 s of extra
	// latency for the second call of a quiet spell; the queue batches
	// images meanwhile, so the call carries more of them.
	DefaultBurst = 1
	// DefaultFloorPerMinute is one call every five minutes. Halving from
	// 5/min reaches it after five cuts (2.5, 1.25, 0.625, 0.3125, 0.2). It
	// is not zero: a limiter that stops calling never sees the success that
	// starts its recovery, and the likely cause of a 429 under a correct
	// ceiling is another client spending the same user's quota, which ends
	// without telling us. At the floor a quota that stays exhausted costs
	// 12 refused calls an hour, each retried later by the queue.
	DefaultFloorPerMinute = 0.2
	// DefaultIncreaseAfter is 1: every clean call below the ceiling raises
	// the rate by one step (a tenth of the ceiling), so one cut (to half)
	// is undone by five clean calls, about a minute and a half at the
	// rates they run at (doc.go has the curve). Five calls per step, the
	// earlier default, took seven and a half minutes, during which a
	// backlog waited at half the quota for a refusal that was long over.
	// The price is a shorter time between refusals when another client
	// keeps spending part of the same user's quota: each climb reaches the
	// ceiling again sooner and meets its 429 sooner. A refused call is
	// retried by the queue and costs one interval; a rate left at half
	// costs half of every minute until it recovers.
	DefaultIncreaseAfter = 1
	// DefaultMargin stretches every interval by 2 %: at 5 calls a minute
	// one every 12.24 s instead of 12 s. Calls exactly 60 s / rate apart
	// put the (rate+1)-th call exactly 60 s after the first, and a strict
	// sliding window refuses it the moment either call is a little late
	// or early: a clock estimate off by a millisecond between replicas,
	// a slower TLS handshake for the first call than for the sixth. A
	// margin m moves the (rate+1)-th call to 60 s × (1 + m) after the
	// first, whatever the rate, so the slack that absorbs such jitter is
	// 60 s × m (1.2 s) at 5 calls a minute as at 600. A fixed extra gap
	// per call would instead give rate × gap of slack: too little at low
	// rates or most of the quota at high ones. It costs 2 % of the quota
	// (4.9 calls a minute at 5).
	DefaultMargin = 0.02
	// DefaultHoldoff is the gateway's window ("time:1 minute" in the
	// APIGW.0308 message): for a minute after a cut the gateway still
	// counts the calls made before it, so more 429s in that minute are
	// echoes of the old rate, not news about the new one. TCP reduces its
	// window once per round trip for the same reason.
	DefaultHoldoff = time.Minute

	DefaultBucket       = "SCANBRIDGE_LIMITS"
	DefaultKey          = "hss_batch_scan"
	DefaultKVReplicas   = 1
	DefaultClockRefresh = 30 * time.Second
	DefaultKVTimeout    = 5 * time.Second
)

// Config is the rate and how it adapts. The zero value of every field means
// "use the default"; constructors call WithDefaults and Validate.
type Config struct {
	// CallsPerMinute is the ceiling: the configured rate, which the limiter
	// starts at, returns to and never exceeds. Default 5.
	CallsPerMinute float64 `json:"calls_per_minute" yaml:"calls_per_minute" koanf:"calls_per_minute"`
	// Burst is how many calls may go at once after a quiet spell, at the
	// ceiling only: below it (after a 429) the burst is 1. Default 1.
	Burst int `json:"burst" yaml:"burst" koanf:"burst"`
	// FloorPerMinute is the lowest rate 429s bring the limiter to. Default
	// 0.2 (one call every 5 minutes), or CallsPerMinute if that is lower.
	FloorPerMinute float64 `json:"floor_per_minute" yaml:"floor_per_minute" koanf:"floor_per_minute"`
	// IncreaseStep is added to the rate (calls per minute) after
	// IncreaseAfter successes in a row. Default CallsPerMinute/10: from
	// half the ceiling back to it in five steps.
	IncreaseStep float64 `json:"increase_step" yaml:"increase_step" koanf:"increase_step"`
	// IncreaseAfter is the run of successes that earns one step. Default 1.
	IncreaseAfter int `json:"increase_after" yaml:"increase_after" koanf:"increase_after"`
	// Margin stretches the interval between calls by this fraction, so that
	// no sliding 60-second window holds more than CallsPerMinute calls
	// (with a burst of 1) when calls arrive up to 60 s × Margin late or
	// early relative to each other. Default 0.02 (zero means the default:
	// the margin is not switched off), less than 1.
	Margin float64 `json:"margin" yaml:"margin" koanf:"margin"`
	// Holdoff is the time after a cut during which further 429s do not cut
	// again. Default 1 minute.
	Holdoff time.Duration `json:"holdoff" yaml:"holdoff" koanf:"holdoff"`
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.CallsPerMinute == 0 {
		c.CallsPerMinute = DefaultCallsPerMinute
	}
	if c.Burst == 0 {
		c.Burst = DefaultBurst
	}
	if c.FloorPerMinute == 0 {
		c.FloorPerMinute = min(DefaultFloorPerMinute, c.CallsPerMinute)
	}
	if c.IncreaseStep == 0 {
		c.IncreaseStep = c.CallsPerMinute / 10
	}
	if c.IncreaseAfter == 0 {
		c.IncreaseAfter = DefaultIncreaseAfter
	}
	if c.Holdoff == 0 {
		c.Holdoff = DefaultHoldoff
	}
	if c.Margin == 0 {
		c.Margin = DefaultMargin
	}
	return c
}

// Validate reports every field out of range.
func (c Config) Validate() error {
	var errs []error
	if !(c.CallsPerMinute > 0) {
		errs = append(errs, fmt.Errorf("calls_per_minute %v: must be > 0", c.CallsPerMinute))
	}
	if c.Burst < 1 {
		errs = append(errs, fmt.Errorf("burst %d: must be >= 1", c.Burst))
	}
	if !(c.FloorPerMinute > 0) || c.FloorPerMinute > c.CallsPerMinute {
		errs = append(errs, fmt.Errorf("floor_per_minute %v: must be > 0 and <= calls_per_minute %v",
			c.FloorPerMinute, c.CallsPerMinute))
	}
	if !(c.IncreaseStep > 0) {
		errs = append(errs, fmt.Errorf("increase_step %v: must be > 0", c.IncreaseStep))
	}
	if c.IncreaseAfter < 1 {
		errs = append(errs, fmt.Errorf("increase_after %d: must be >= 1", c.IncreaseAfter))
	}
	if c.Holdoff < 0 {
		errs = append(errs, fmt.Errorf("holdoff %s: must be >= 0", c.Holdoff))
	}
	if !(c.Margin > 0) || c.Margin >= 1 {
		errs = append(errs, fmt.Errorf("margin %v: must be > 0 and < 1", c.Margin))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rate limit config: %w", err)
	}
	return nil
}

// KVConfig says where the shared limiter keeps its state.
type KVConfig struct {
	// Bucket is the JetStream KV bucket. Default SCANBRIDGE_LIMITS. Every
	// replica of a deployment must name the same bucket and key.
	Bucket string `json:"bucket" yaml:"bucket" koanf:"bucket"`
	// Key holds one limiter's state. One key per quota: HSS counts per
	// user and per API, so a deployment calling one API with one user has
	// one key. Default hss_batch_scan.
	Key string `json:"key" yaml:"key" koanf:"key"`
	// Replicas of the bucket's stream: 1 on a single (embedded) server, 3
	// in a cluster. Default 1.
	Replicas int `json:"replicas" yaml:"replicas" koanf:"replicas"`
	// ClockRefresh is how often the limiter re-measures the offset between
	// its clock and the NATS server's. Default 30 s.
	ClockRefresh time.Duration `json:"clock_refresh" yaml:"clock_refresh" koanf:"clock_refresh"`
	// Timeout bounds one KV operation, so a NATS outage is noticed (and
	// logged) even when the caller's ctx has no deadline. Default 5 s.
	Timeout time.Duration `json:"timeout" yaml:"timeout" koanf:"timeout"`
}

// WithDefaults fills the zero fields.
func (c KVConfig) WithDefaults() KVConfig {
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.Key == "" {
		c.Key = DefaultKey
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultKVReplicas
	}
	if c.ClockRefresh == 0 {
		c.ClockRefresh = DefaultClockRefresh
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultKVTimeout
	}
	return c
}

// The character sets JetStream accepts for bucket names and keys
// (https://docs.nats.io/nats-concepts/jetstream/key-value-store).
var (
	validBucket = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	validKey    = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$`)
)

// Validate reports every field out of range.
func (c KVConfig) Validate() error {
	var errs []error
	if !validBucket.MatchString(c.Bucket) {
		errs = append(errs, fmt.Errorf("bucket %q: letters, digits, '-' and '_' only", c.Bucket))
	}
	if !validKey.MatchString(c.Key) {
		errs = append(errs, fmt.Errorf("key %q: letters, digits and -/_= in dot-separated tokens only", c.Key))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: must be 1 to 5", c.Replicas))
	}
	if c.ClockRefresh <= 0 {
		errs = append(errs, fmt.Errorf("clock_refresh %s: must be > 0", c.ClockRefresh))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %s: must be > 0", c.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rate limit kv config: %w", err)
	}
	return nil
}
