package natsconn

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestRetryJetStream(t *testing.T) {
	boom := errors.New("stream name already in use with a different configuration")
	tests := []struct {
		name         string
		errs         []error // returned by successive attempts; nil after the list
		budget       time.Duration
		wantAttempts int
		wantErr      error
	}{
		{"a hung attempt is tried again", []error{context.DeadlineExceeded, nats.ErrTimeout}, time.Minute, 3, nil},
		{"no responders yet (JetStream starting) is tried again", []error{nats.ErrNoResponders}, time.Minute, 2, nil},
		{"a real refusal is returned at once", []error{boom}, time.Minute, 1, boom},
		{"the start-up budget ends the tries", []error{context.DeadlineExceeded, context.DeadlineExceeded, context.DeadlineExceeded,
			context.DeadlineExceeded, context.DeadlineExceeded, context.DeadlineExceeded}, 250 * time.Millisecond, 0, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.budget)
			defer cancel()
			attempts := 0
			err := RetryJetStream(ctx, slog.New(slog.DiscardHandler), "test", func(context.Context) error {
				attempts++
				if attempts <= len(tt.errs) {
					return tt.errs[attempts-1]
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantAttempts > 0 && attempts != tt.wantAttempts {
				t.Fatalf("%d attempts, want %d", attempts, tt.wantAttempts)
			}
		})
	}
}
