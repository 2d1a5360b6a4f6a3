package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// statusEnv is an embedded NATS holding image lifecycles written by the
// store, as the bridge writes them, and a config pointing at it. The
// bucket is not the default one: status finds it through the config's
// lifecycle.bucket.
func statusEnv(t *testing.T) (config string) {
	t.Helper()
	srv := natstest.Start(t)
	s, err := lifecycle.Open(t.Context(), srv.JetStream(), lifecycle.Config{Bucket: "team_images"})
	if err != nil {
		t.Fatal(err)
	}
	target := scanjob.Target{Region: "cn-north-4", ProjectID: "p1", ImageType: scanjob.PrivateImage}
	base := time.Now().Add(-time.Hour)
	add := func(ref string, minute int, fn func(*lifecycle.Record), states ...lifecycle.State) {
		repo, tag, _ := strings.Cut(ref, ":")
		ns, image := scanjob.SplitRepository(repo)
		j := scanjob.Job{Receiver: "harbor", Registry: "harbor", Namespace: ns, Image: image, Tag: tag, Target: target,
			RequestID: "req-" + tag, AcceptedAt: base.Add(time.Duration(minute) * time.Minute)}
		r, err := s.Create(t.Context(), lifecycle.NewRecord(j))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range states {
			if _, err := s.Update(t.Context(), r.Key, func(r *lifecycle.Record) error { r.SetState(st, "step to "+string(st)); fn(r); return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	none := func(*lifecycle.Record) {}
	add("team/app:v1", 3, func(r *lifecycle.Record) {
		r.HSS = lifecycle.HSSFacts{ID: 42, Vulnerabilities: 7, ScanStatus: "finish"}
		r.LastAnswer = lifecycle.Answer{API: "ListSwrImageRepository", Status: 200, RequestID: "hss-req-1"}
	}, lifecycle.ScanRequested, lifecycle.Scanning, lifecycle.Scanned)
	add("team/app:v2", 2, func(r *lifecycle.Record) {
		r.LastAnswer = lifecycle.Answer{API: "BatchScanSwrImage", Status: 400, Code: "HSS.0011", Message: "image not found"}
	}, lifecycle.ScanRequested, lifecycle.WaitingPresence)
	add("ops/api:2.1", 1, none)
	return writeDLQConfig(t, fmt.Sprintf("nats:\n  url: %s\nlifecycle:\n  bucket: team_images\n", srv.URL()))
}

func TestStatusOfAnImage(t *testing.T) {
	cfg := statusEnv(t)
	out, _, err := runDLQCLI(t, "status", "-c", cfg, "team/app:v1")
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	for _, want := range []string{"team/app:v1", "scanned", "req-v1", "7 vulnerabilities", "ListSwrImageRepository 200 (request hss-req-1)",
		"history:", "step to scanning", "scan requested at"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "team/app:v2") {
		t.Errorf("status of v1 shows v2:\n%s", out)
	}

	out, _, err = runDLQCLI(t, "status", "-c", cfg, "team/app", "--json")
	if err != nil {
		t.Fatalf("status --json: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d JSON lines, want 2 (every tag):\n%s", len(lines), out)
	}
	for _, l := range lines {
		var r lifecycle.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Namespace != "team" || r.Key == "" || r.AcceptedAt.IsZero() {
			t.Fatalf("line %s: %+v %v", l, r, err)
		}
	}
}

func TestStatusPending(t *testing.T) {
	cfg := statusEnv(t)
	out, _, err := runDLQCLI(t, "status", "-c", cfg, "--pending")
	if err != nil {
		t.Fatalf("status --pending: %v", err)
	}
	api, v2 := strings.Index(out, "ops/api:2.1"), strings.Index(out, "team/app:v2")
	if api < 0 || v2 < 0 || api > v2 || strings.Contains(out, "team/app:v1") {
		t.Fatalf("pending table, want ops/api:2.1 then team/app:v2 and no finished image:\n%s", out)
	}
	for _, want := range []string{"waiting_presence", "BatchScanSwrImage 400 HSS.0011 \"image not found\"", "WAITING"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	cfg := statusEnv(t)
	bare := writeDLQConfig(t, fmt.Sprintf("nats:\n  url: %s\n", natstest.Start(t).URL()))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"an image never pushed", []string{"-c", cfg, "nobody/x:1"}, "no lifecycle record for nobody/x:1"},
		{"no namespace", []string{"-c", cfg, "app:v1"}, "want namespace/image[:tag]"},
		{"an empty tag", []string{"-c", cfg, "team/app:"}, "empty tag"},
		{"no image and no --pending", []string{"-c", cfg}, "or --pending"},
		{"both", []string{"-c", cfg, "--pending", "team/app"}, "not both"},
		{"a limit too large", []string{"-c", cfg, "--pending", "--limit", "5000"}, "--limit 5000"},
		{"a NATS without the bucket", []string{"-c", bare, "--pending"}, "lifecycle bucket not found: scanbridge_images"},
		{"--bucket over the config's", []string{"-c", cfg, "--bucket", "other_images", "--pending"}, "lifecycle bucket not found: other_images"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runDLQCLI(t, append([]string{"status"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzParseImageArg: an accepted IMAGE[:TAG] names a namespace and an
// image, and its tag has no '/'.
func FuzzParseImageArg(f *testing.F) {
	for _, s := range []string{"team/app:v1", "team/lib/core", "a:b", "host:5000/team/app", "/x/", "team/app:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		flt, err := parseImageArg(arg)
		if err != nil {
			return
		}
		if flt.Namespace == "" || flt.Image == "" || strings.Contains(flt.Tag, "/") {
			t.Fatalf("parseImageArg(%q) = %+v", arg, flt)
		}
	})
}
