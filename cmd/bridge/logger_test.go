package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/config"
)

// TestLogsWriteDurationsAsPeopleRead: slog's JSON handler writes a
// duration as nanoseconds (30000000000); the bridge's logger writes "30s"
// in both formats, in attributes and in groups.
func TestLogsWriteDurationsAsPeopleRead(t *testing.T) {
	for _, tc := range []struct{ format, want string }{
		{"json", `"ack_wait":"30s"`},
		{"text", `ack_wait=30s`},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var buf bytes.Buffer
			log := newLogger(&buf, config.LogConfig{Level: "info", Format: tc.format})
			log.Info("queue open", "ack_wait", 30*time.Second, "count", 3)
			log.WithGroup("consumer").Info("x", "linger", 1500*time.Millisecond)
			out := buf.String()
			if !bytes.Contains(buf.Bytes(), []byte(tc.want)) || !bytes.Contains(buf.Bytes(), []byte("1.5s")) {
				t.Fatalf("log:\n%s\nwant %s and 1.5s", out, tc.want)
			}
			if tc.format == "json" {
				var v map[string]any
				if err := json.Unmarshal(bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0], &v); err != nil || v["count"] != float64(3) {
					t.Fatalf("first line %v: %v", v, err)
				}
			}
		})
	}
}
