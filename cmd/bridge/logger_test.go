package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/config"
)

// TestLogsWriteDurationsAsPeopleRead: slog's JSON handler writes a
// duration as nanoseconds (30000000000); the bridge's logger writes "30s"
// in both formats: in a record's attributes, in groups, in attributes
// given to With, and leaves a record without durations as it was.
func TestLogsWriteDurationsAsPeopleRead(t *testing.T) {
	for _, tc := range []struct{ format, want string }{
		{"json", `"ack_wait":"30s"`},
		{"text", `ack_wait=30s`},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var buf bytes.Buffer
			log := newLogger(&buf, config.LogConfig{Level: "info", Format: tc.format})
			log.Info("queue open", "ack_wait", 30*time.Second, "count", 3)
			log.WithGroup("consumer").Info("x", slog.Group("limits", "linger", 1500*time.Millisecond))
			log.With("grace", 2*time.Minute).Info("y", "n", 1)
			log.Info("plain", "n", 2)
			out := buf.String()
			for _, want := range []string{tc.want, "1.5s", "2m0s"} {
				if !strings.Contains(out, want) {
					t.Fatalf("log:\n%s\nwant %s", out, want)
				}
			}
			if strings.Contains(out, "30000000000") || strings.Contains(out, "1500000000") || strings.Contains(out, "120000000000") {
				t.Fatalf("a duration in nanoseconds:\n%s", out)
			}
			if tc.format == "json" {
				for line := range strings.Lines(out) {
					var v map[string]any
					if err := json.Unmarshal([]byte(line), &v); err != nil {
						t.Fatalf("%q: %v", line, err)
					}
				}
				if !strings.Contains(out, `"msg":"queue open","ack_wait":"30s","count":3`) || !strings.Contains(out, `"msg":"plain","n":2`) {
					t.Fatalf("attributes reordered or changed:\n%s", out)
				}
			}
		})
	}
}

// BenchmarkLogLine is the cost of the intake's line per webhook (no
// duration in it) through slog's JSON handler alone and through the
// bridge's logger (durationsAsText in front of it). Figures in the
// closing notes, not asserted.
func BenchmarkLogLine(b *testing.B) {
	images := []string{"team/app:1.0@sha256:1111111111111111111111111111111111111111111111111111111111111111"}
	for _, bc := range []struct {
		name string
		log  *slog.Logger
	}{
		{"json handler", slog.New(slog.NewJSONHandler(io.Discard, nil))},
		{"bridge logger", newLogger(io.Discard, config.LogConfig{Level: "info", Format: "json"})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			log := bc.log.With("component", "intake")
			b.ReportAllocs()
			for b.Loop() {
				log.Info("webhook accepted", "receiver", "harbor", "request_id", "v1ep0fuYmDoWRohejSB-_414sx78m7XA",
					"jobs", 1, "duplicates", 0, "skipped", 0, "images", images)
			}
		})
	}
}
