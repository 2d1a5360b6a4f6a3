package queue

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

func TestAttachReadsWhatOpenSetUp(t *testing.T) {
	js := natstest.Start(t).JetStream()
	cfg := natsConfig()
	opened := openQueue(t, js, cfg, nil)
	seqs := storeDeadLetters(t, opened, "a")

	q, err := Attach(t.Context(), js, cfg, nil)
	if err != nil {
		t.Fatalf("Attach with the config Open used: %v", err)
	}
	if q.Config() != opened.Config() {
		t.Errorf("attached config %+v, want the opened one %+v", q.Config(), opened.Config())
	}
	rec, err := q.DeadLetters().Get(t.Context(), seqs[0])
	if err != nil || rec.Job == nil || rec.Job.Image != "a" {
		t.Fatalf("Get through the attached queue = %+v, %v", rec, err)
	}
	rep, err := q.DeadLetters().Redrive(t.Context(), Filter{}, false)
	if err != nil || len(rep.Redriven) != 1 || rep.Redriven[0].NewSeq == 0 {
		t.Fatalf("Redrive through the attached queue = %+v, %v", rep, err)
	}
	if n := streamMsgs(t, opened.stream); n != 1 {
		t.Errorf("job stream holds %d jobs after the redrive, want 1", n)
	}
}

func TestAttachRefusesAConfigTheServerDoesNotMatch(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // the settings named, in order
	}{
		{"a shorter max_age, which Open would apply and so delete waiting jobs",
			func(c *Config) { c.Stream.MaxAge = time.Hour }, []string{"stream.max_age"}},
		{"another heartbeat, which Open would turn into another ack_wait",
			func(c *Config) { c.Consumer.Heartbeat = 5 * time.Second }, []string{"consumer.heartbeat (ack_wait is 3 heartbeats)"}},
		{"another max_held, which Open would turn into another max_ack_pending",
			func(c *Config) { c.Consumer.MaxHeld = 100 }, []string{"consumer.max_held (max_ack_pending is 4×max_held)"}},
		{"another duplicate window, on both streams",
			func(c *Config) { c.Stream.Duplicates = time.Minute }, []string{"stream.duplicates", "stream.duplicates (dead-letter stream)"}},
		{"two differences are both named",
			func(c *Config) { c.Stream.MaxBytes, c.DLQ.MaxAge = 1<<20, time.Hour }, []string{"stream.max_bytes", "dlq.max_age"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js := natstest.Start(t).JetStream()
			opened := openQueue(t, js, natsConfig(), nil)
			before := opened.stream.CachedInfo().Config

			other := natsConfig()
			tt.change(&other)
			_, err := Attach(t.Context(), js, other, nil)
			var mm *MismatchError
			if !errors.As(err, &mm) {
				t.Fatalf("Attach with another config = %v, want a *MismatchError", err)
			}
			var got []string
			for _, m := range mm.Mismatches {
				got = append(got, m.Setting)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("mismatches %v, want %v (%v)", got, tt.want, err)
			}

			s, err := js.Stream(t.Context(), DefaultStreamName)
			if err != nil {
				t.Fatal(err)
			}
			if after := s.CachedInfo().Config; after.MaxAge != before.MaxAge || after.Duplicates != before.Duplicates || after.MaxBytes != before.MaxBytes {
				t.Fatalf("Attach changed the job stream: %+v, was %+v", after, before)
			}
		})
	}
}

func TestAttachCreatesNothing(t *testing.T) {
	t.Run("a server without the streams keeps having none", func(t *testing.T) {
		js := natstest.Start(t).JetStream()
		_, err := Attach(t.Context(), js, natsConfig(), nil)
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("Attach on a bare server = %v, want stream not found", err)
		}
		var names []string
		for n := range js.StreamNames(t.Context()).Name() {
			names = append(names, n)
		}
		if len(names) != 0 {
			t.Fatalf("Attach left streams %v on a server that had none", names)
		}
	})
	t.Run("a missing durable consumer is not made", func(t *testing.T) {
		js := natstest.Start(t).JetStream()
		opened := openQueue(t, js, natsConfig(), nil)
		durable := opened.Config().Consumer.Durable
		if err := opened.stream.DeleteConsumer(t.Context(), durable); err != nil {
			t.Fatal(err)
		}
		_, err := Attach(t.Context(), js, natsConfig(), nil)
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatalf("Attach without the durable = %v, want consumer not found", err)
		}
		if _, err := opened.stream.Consumer(t.Context(), durable); !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatalf("the durable exists after Attach: %v", err)
		}
	})
}
