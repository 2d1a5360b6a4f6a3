package lifecycle

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Defaults of Config.
const (
	DefaultBucket      = "scanbridge_images"
	DefaultReplicas    = 1
	DefaultTerminalTTL = 7 * 24 * time.Hour
	DefaultMaxBytes    = 256 << 20
	DefaultTimeout     = 5 * time.Second
)

// Config says where the lifecycle records live.
type Config struct {
	// Bucket is the JetStream KV bucket. Every replica of a deployment
	// names the same one. Default scanbridge_images.
	Bucket string `json:"bucket" yaml:"bucket" koanf:"bucket"`
	// Replicas of the bucket's stream: give it the job stream's, so the
	// records survive what the jobs survive. Default 1.
	Replicas int `json:"replicas" yaml:"replicas" koanf:"replicas"`
	// TerminalTTL is how long a finished record (scanned, scan_failed,
	// given_up) is kept after its last change; then it expires on its own.
	// Records still in progress never expire. Default 7 days.
	TerminalTTL time.Duration `json:"terminal_ttl" yaml:"terminal_ttl" koanf:"terminal_ttl"`
	// MaxBytes bounds the bucket. A full bucket refuses new records (the
	// writes fail, nothing is dropped silently). Default 256 MiB, some
	// 100 000 records.
	MaxBytes int64 `json:"max_bytes" yaml:"max_bytes" koanf:"max_bytes"`
	// Timeout bounds one KV read or write when the caller's ctx has no
	// deadline. Default 5 s.
	Timeout time.Duration `json:"timeout" yaml:"timeout" koanf:"timeout"`
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.TerminalTTL == 0 {
		c.TerminalTTL = DefaultTerminalTTL
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

var validBucket = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Validate reports every field out of range, named as in the config file
// under its section.
func (c Config) Validate() error {
	var errs []error
	if !validBucket.MatchString(c.Bucket) {
		errs = append(errs, fmt.Errorf("bucket %q: letters, digits, '-' and '_' only", c.Bucket))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: must be 1 to 5", c.Replicas))
	}
	if c.TerminalTTL < time.Second {
		errs = append(errs, fmt.Errorf("terminal_ttl %s: must be at least 1s", c.TerminalTTL))
	}
	if c.MaxBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("max_bytes %d: must be at least 1 MiB (1048576)", c.MaxBytes))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %s: must be > 0", c.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lifecycle config: %w", err)
	}
	return nil
}
