package queue

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestParsePubAck(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    PublishResult
		wantErr error
	}{
		{"stored", `{"stream":"JOBS","seq":42}`, PublishResult{Stream: "JOBS", Seq: 42}, nil},
		{"duplicate", `{"stream":"JOBS","domain":"hub","seq":7,"duplicate":true}`, PublishResult{Stream: "JOBS", Seq: 7, Duplicate: true}, nil},
		{"refused", `{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}`, PublishResult{}, jetstream.ErrStreamNotFound},
		{"no stream", `{"seq":1}`, PublishResult{}, jetstream.ErrInvalidJSAck},
		{"not JSON", `+OK`, PublishResult{}, jetstream.ErrInvalidJSAck},
		{"a stream that is no string", `{"stream":1,"seq":1}`, PublishResult{}, jetstream.ErrInvalidJSAck},
		{"not an object", `[1]`, PublishResult{}, jetstream.ErrInvalidJSAck},
		{"truncated", `{"stream":"JOBS","seq":4`, PublishResult{}, jetstream.ErrInvalidJSAck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePubAck([]byte(tt.data))
			if tt.name == "refused" {
				var api *jetstream.APIError
				if !errors.As(err, &api) || api.Code != 400 || api.ErrorCode != 10060 || api.Description != "expected stream does not match" {
					t.Fatalf("err = %v, want the APIError", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("parsePubAck = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// FuzzParsePubAck: any answer gives a result with a stream or an error,
// never a panic.
func FuzzParsePubAck(f *testing.F) {
	for _, s := range []string{`{"stream":"JOBS","seq":42}`, `{"error":{"code":503}}`, `{"stream":1}`, `[]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := parsePubAck(data)
		if err == nil && res.Stream == "" {
			t.Fatalf("no error and no stream for %q", data)
		}
	})
}
