package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"runtime/debug"
	"testing"
)

// TestMemoryLimitLeavesAnExplicitGOMEMLIMIT checks that an operator's
// GOMEMLIMIT (the Helm chart sets one) is left as the runtime read it at
// start, and logged as the limit's source.
func TestMemoryLimitLeavesAnExplicitGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "300MiB")
	before := debug.SetMemoryLimit(-1)
	var logs bytes.Buffer
	setMemoryLimit(slog.New(slog.NewJSONHandler(&logs, nil)))
	if after := debug.SetMemoryLimit(-1); after != before {
		debug.SetMemoryLimit(before)
		t.Fatalf("the runtime's memory limit changed from %d to %d with GOMEMLIMIT set", before, after)
	}
	var rec struct {
		Msg    string `json:"msg"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal(logs.Bytes(), &rec); err != nil || rec.Msg != "memory limit" || rec.Source != "GOMEMLIMIT" {
		t.Fatalf("log %q (%v), want one \"memory limit\" line with source GOMEMLIMIT", logs.String(), err)
	}
}
