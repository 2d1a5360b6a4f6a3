package queue

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	k := c.Consumer
	checks := []struct {
		name      string
		got, want any
	}{
		{"stream name", c.Stream.Name, "SCANJOBS"},
		{"subject prefix", c.Stream.SubjectPrefix, "scanjobs"},
		{"replicas", c.Stream.Replicas, 1},
		{"max age", c.Stream.MaxAge, 7 * 24 * time.Hour},
		{"duplicate window", c.Stream.Duplicates, 10 * time.Minute},
		{"dlq name", c.DLQ.Name, "SCANJOBS_DLQ"},
		{"dlq prefix", c.DLQ.SubjectPrefix, "scanjobs_dlq"},
		{"dlq max age", c.DLQ.MaxAge, 30 * 24 * time.Hour},
		{"accepted set on", c.Accepted.Disabled, false},
		{"accepted bucket", c.Accepted.Bucket, "SCANJOBS_ACCEPTED"},
		{"durable", k.Durable, "hss-batcher"},
		{"max items", k.MaxItems, 100},
		{"max items per call", k.MaxItemsPerCall, 1000},
		{"linger", k.Linger, 5 * time.Second},
		{"packing", k.Packing, "quota"},
		{"max held", k.MaxHeld, 2000},
		{"ack wait", k.AckWait(), 30 * time.Second},
		{"max ack pending", k.MaxAckPending(), 8000},
		{"max deliver", k.MaxDeliver(), -1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	js := c.jetstreamConsumer()
	if js.AckPolicy != jetstream.AckExplicitPolicy || js.DeliverPolicy != jetstream.DeliverAllPolicy ||
		js.BackOff != nil || js.FilterSubject != "scanjobs.*.*" || js.MaxRequestBatch != 0 {
		t.Errorf("consumer config %+v", js)
	}
	// The background lanes' durable: the same settings, on the subjects
	// of one more token, which the push durable's filter does not match.
	bg := c.jetstreamBackgroundConsumer()
	if bg.Durable != "hss-batcher-background" || bg.FilterSubject != "scanjobs.*.*.*" ||
		bg.AckWait != js.AckWait || bg.MaxAckPending != js.MaxAckPending || bg.MaxDeliver != js.MaxDeliver {
		t.Errorf("background consumer config %+v", bg)
	}
	if s := c.Stream.jetstream(); s.Retention != jetstream.WorkQueuePolicy || s.Discard != jetstream.DiscardNew || s.Storage != jetstream.FileStorage {
		t.Errorf("stream config %+v", s)
	}
	c.DLQ.Replicas = 0
	c.Stream.Replicas = 3
	if got := c.WithDefaults().DLQ.Replicas; got != 3 {
		t.Errorf("dlq replicas default to the stream's: got %d, want 3", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"more items per call than HSS takes", func(c *Config) { c.Consumer.MaxItemsPerCall = MaxImagesPerCall + 1 }, "max_items_per_call"},
		{"the HSS limit itself is allowed", func(c *Config) { c.Consumer.MaxItemsPerCall = MaxImagesPerCall; c.Consumer.MaxHeld = MaxImagesPerCall }, ""},
		{"a group larger than a call", func(c *Config) { c.Consumer.MaxItems = 2000 }, "max_items_per_call"},
		{"less room than one call", func(c *Config) { c.Consumer.MaxHeld = 999 }, "max_held"},
		{"a heartbeat under a second", func(c *Config) { c.Consumer.Heartbeat = 500 * time.Millisecond }, "heartbeat"},
		{"an unknown packing policy", func(c *Config) { c.Consumer.Packing = "greedy" }, "consumer.packing"},
		{"the ready policy is allowed", func(c *Config) { c.Consumer.Packing = PackReady }, ""},
		{"a prefix with a wildcard", func(c *Config) { c.Stream.SubjectPrefix = "scan.*" }, "stream.subject_prefix"},
		{"a prefix with an empty token", func(c *Config) { c.Stream.SubjectPrefix = "scan..jobs" }, "stream.subject_prefix"},
		{"a dead-letter prefix inside the job prefix", func(c *Config) { c.DLQ.SubjectPrefix = "scanjobs.dlq" }, "overlaps"},
		{"one stream for jobs and dead letters", func(c *Config) { c.DLQ.Name = c.Stream.Name }, "must differ"},
		{"a stream name with a dot", func(c *Config) { c.Stream.Name = "SCAN.JOBS" }, "stream.name"},
		{"a duplicate window longer than the max age", func(c *Config) { c.Stream.Duplicates = 8 * 24 * time.Hour }, "duplicates"},
		{"jitter of a whole delay", func(c *Config) { c.Consumer.BackoffJitter = 1 }, "backoff_jitter"},
		{"a cap below the base", func(c *Config) { c.Consumer.BackoffCap = time.Second }, "backoff_base"},
		{"an unknown storage", func(c *Config) { c.Stream.Storage = "disk" }, "storage"},
		{"six replicas", func(c *Config) { c.Stream.Replicas = 6 }, "stream.replicas"},
		{"an accepted bucket name with a dot", func(c *Config) { c.Accepted.Bucket = "SCANJOBS.ACCEPTED" }, "accepted.bucket"},
		{"an accepted bucket stored as the job stream", func(c *Config) { c.Accepted.Bucket = "X"; c.Stream.Name = "KV_X" }, "accepted.bucket"},
		{"a bad bucket name does not matter when the set is off", func(c *Config) { c.Accepted.Disabled = true; c.Accepted.Bucket = "a.b" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{}.WithDefaults()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error about %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error does not wrap ErrInvalidConfig")
			}
		})
	}
}
