package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/ratelimit"
)

// runScanCLI runs `bridge scan ARGS` under ctx and returns stdout and
// stderr.
func runScanCLI(ctx context.Context, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs(append([]string{"scan"}, args...))
	err := root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// scanConfigYAML is a bridge config for scans: its NATS (none at all when
// natsURL is empty: no URL, and an embedded server that does not listen)
// and a target.
func scanConfigYAML(natsURL string) string {
	nats := "nats:\n  url: " + natsURL + "\n"
	if natsURL == "" {
		nats = "nats:\n  listen: \"\"\n"
	}
	return nats + "hss:\n  region: cn-north-4\n  project_id: 0123456789abcdef0123456789abcdef\n" +
		"  access_key: AKSCANTEST\n  secret_key: SKSCANTEST\n"
}

// limitState is the shared limiter's KV entry as the bridge's replicas
// see it: its revision and next theoretical arrival time.
func limitState(t *testing.T, js jetstream.JetStream) (rev uint64, tat time.Time) {
	t.Helper()
	kv, err := js.KeyValue(t.Context(), ratelimit.DefaultBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 0, time.Time{}
	}
	if err != nil {
		t.Fatalf("limit bucket: %v", err)
	}
	e, err := kv.Get(t.Context(), ratelimit.DefaultKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, time.Time{}
	}
	if err != nil {
		t.Fatalf("limit key: %v", err)
	}
	var st struct {
		TAT time.Time `json:"tat"`
	}
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		t.Fatalf("limit state %s: %v", e.Value(), err)
	}
	return e.Revision(), st.TAT
}

func TestScanTakesItsPermitFromTheBridgesSharedLimit(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	cfg := writeDLQConfig(t, scanConfigYAML(ns.URL()))

	out, _, err := runScanCLI(t.Context(), "--dry-run", "-c", cfg, "team/app:1.0")
	if err != nil || !strings.Contains(out, "HSS accepted the scan of 1 image(s)") {
		t.Fatalf("scan = %q, %v", out, err)
	}
	rev, tat := limitState(t, js)
	if rev == 0 || !tat.After(time.Now().Add(5*time.Second)) {
		t.Fatalf("shared limit state rev %d, next slot %s: want the scan's permit taken, the next slot ~12 s ahead",
			rev, time.Until(tat).Round(time.Millisecond))
	}

	// Right after it, a second scan waits for the same shared slot: with
	// a deadline shorter than the 12 s interval it is refused at once,
	// and takes nothing.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, _, err = runScanCLI(ctx, "--dry-run", "-c", cfg, "team/app:1.1")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("second scan = %v after %s, want a deadline refusal at once", err, time.Since(start))
	}
	if rev2, tat2 := limitState(t, js); rev2 != rev || !tat2.Equal(tat) {
		t.Fatalf("the refused scan changed the shared state: rev %d→%d", rev, rev2)
	}

	// A process-local limit (hss.shared_limit off) neither waits for the
	// shared slot nor touches it.
	t.Setenv("BRIDGE_HSS__SHARED_LIMIT", "false")
	if out, _, err := runScanCLI(ctx, "--dry-run", "-c", cfg, "team/app:1.2"); err != nil {
		t.Fatalf("scan with a local limit = %q, %v", out, err)
	}
	if rev3, _ := limitState(t, js); rev3 != rev {
		t.Fatalf("a scan with hss.shared_limit=false wrote the shared state (rev %d→%d)", rev, rev3)
	}
}

func TestScanWithoutTheBridgesNATS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "nats://" + ln.Addr().String()
	ln.Close()
	cfg := writeDLQConfig(t, scanConfigYAML(closed))

	t.Run("a real scan fails and names the settings", func(t *testing.T) {
		_, _, err := runScanCLI(t.Context(), "-c", cfg, "team/app:1.0")
		for _, want := range []string{"hss.shared_limit", "nats.url", "nats.listen", "--nats-url", "BRIDGE_HSS__SHARED_LIMIT=false", closed} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("scan = %v, want an error naming %s", err, want)
			}
		}
	})
	t.Run("a real scan with no NATS configured at all fails the same way", func(t *testing.T) {
		_, _, err := runScanCLI(t.Context(), "-c", writeDLQConfig(t, scanConfigYAML("")), "team/app:1.0")
		if err == nil || !strings.Contains(err.Error(), "BRIDGE_HSS__SHARED_LIMIT=false") {
			t.Fatalf("scan = %v, want the way out named", err)
		}
	})
	t.Run("a dry run falls back to a local limit and says so", func(t *testing.T) {
		out, logs, err := runScanCLI(t.Context(), "--dry-run", "-c", cfg, "team/app:1.0")
		if err != nil || !strings.Contains(out, "HSS accepted") {
			t.Fatalf("scan = %q, %v", out, err)
		}
		if !strings.Contains(logs, "process-local") {
			t.Fatalf("log = %q, want the fallback said", logs)
		}
	})
}
