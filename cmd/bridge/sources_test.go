package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/sources"
	"github.com/scan-bridge/scan-bridge/swrclient/swrtest"
)

// ociRegistry is go-containerregistry's in-process registry holding the
// given images (repository:tag), anonymous.
func ociRegistry(t *testing.T, refs ...string) (host string) {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	for _, r := range refs {
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(host+"/"+r, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	return host
}

// TestE2ESourceReachesHSS: an image in a registry that sends no webhook
// is found by the source's first round and scanned once.
func TestE2ESourceReachesHSS(t *testing.T) {
	host := ociRegistry(t, "team/app:1.0", "team/app:sha256-"+strings.Repeat("b", 64)+".sig")
	e := newE2E(t, func(c *config.Config) {
		c.Sources = []sources.Config{{Name: "legacy", Kind: sources.KindRegistry, URL: "http://" + host, Insecure: true,
			Schedule: sources.Schedule{Every: time.Minute}}}
	})
	natstest.Eventually(t, 30*time.Second, "the polled image is scanned", func() bool { return delivered(e.hss)["team/app:1.0"] == 1 })
	if n := len(delivered(e.hss)); n != 1 {
		t.Fatalf("HSS got %v; the signature tag is no image", delivered(e.hss))
	}
}

func TestSourcesCLI(t *testing.T) {
	host := ociRegistry(t, "team/app:1.0", "team/app:2.0")
	ns := natstest.Start(t)
	if _, err := queue.Open(t.Context(), ns.JetStream(), queue.Config{}, nil, queue.NewMetrics(nil)); err != nil {
		t.Fatal(err)
	}
	cfg := writeDLQConfig(t, fmt.Sprintf(`nats: {url: %s}
hss: {region: cn-north-4, project_id: p1}
receivers:
  - {name: hook, format: distribution, auth: {method: none}}
sources:
  - {name: legacy, kind: registry, url: "http://%s", insecure: true}
  - {name: sweep, kind: registry, url: "http://%s", insecure: true, sweep_for: hook, repositories: {include: [team/none]}}
`, ns.URL(), host, host))

	out, _, err := runDLQCLI(t, "sources", "run", "legacy", "--dry-run", "-c", cfg)
	if err != nil {
		t.Fatalf("run --dry-run: %v", err)
	}
	if !strings.Contains(out, "would enqueue 2 jobs") || !strings.Contains(out, "team/app:1.0@sha256:") {
		t.Fatalf("dry run:\n%s", out)
	}
	out, _, err = runDLQCLI(t, "sources", "run", "legacy", "-c", cfg, "--json")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var rep sources.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Jobs) != 2 || rep.DryRun {
		t.Fatalf("run: %+v %v\n%s", rep, err, out)
	}
	out, _, err = runDLQCLI(t, "sources", "run", "legacy", "--dry-run", "-c", cfg)
	if err != nil || !strings.Contains(out, "would enqueue 0 jobs") {
		t.Fatalf("a dry run after a round:\n%s %v", out, err)
	}
	out, _, err = runDLQCLI(t, "sources", "list", "-c", cfg)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	for _, want := range []string{"legacy", "ok", "1 repositories", "sweep", "hook", "never"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := runDLQCLI(t, "sources", "run", "nope", "-c", cfg); err == nil || !strings.Contains(err.Error(), `no source named "nope"`) {
		t.Fatalf("unknown source: %v", err)
	}
}

// TestSourcesCLISWR: `bridge sources run NAME --dry-run` for a kind swr
// source, against the fake SWR API, with the hss section's AK/SK (the
// source names none), then a real round and the list.
func TestSourcesCLISWR(t *testing.T) {
	fake := swrtest.NewServer(swrtest.Options{AccessKeys: map[string]swrtest.Key{"AKCLI": {SecretKey: "SKCLI-secret"}}})
	t.Cleanup(fake.Close)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	fake.Push("team", "app", "1.0", "sha256:"+strings.Repeat("a", 64), at)
	fake.Push("team", "group/api", "v2", "sha256:"+strings.Repeat("b", 64), at)
	ns := natstest.Start(t)
	if _, err := queue.Open(t.Context(), ns.JetStream(), queue.Config{}, nil, queue.NewMetrics(nil)); err != nil {
		t.Fatal(err)
	}
	cfg := writeDLQConfig(t, fmt.Sprintf(`nats: {url: %s}
hss: {region: cn-north-4, project_id: p1, access_key: AKCLI, secret_key: SKCLI-secret}
receivers:
  - {name: hook, format: distribution, auth: {method: none}}
sources:
  - {name: swr-poll, kind: swr, swr: {endpoint: "%s", namespaces: {include: [team]}, calls_per_minute: 600}}
`, ns.URL(), fake.URL))

	out, _, err := runDLQCLI(t, "sources", "run", "swr-poll", "--dry-run", "-c", cfg)
	if err != nil {
		t.Fatalf("run --dry-run: %v", err)
	}
	for _, want := range []string{"would enqueue 2 jobs", "team/app:1.0@sha256:", "team/group/api:v2@sha256:"} {
		if !strings.Contains(out, want) {
			t.Fatalf("dry run lacks %q:\n%s", want, out)
		}
	}
	if n := len(fake.Refusals()); n != 0 {
		t.Fatalf("the fake refused %+v", fake.Refusals())
	}
	if _, _, err := runDLQCLI(t, "sources", "run", "swr-poll", "-c", cfg); err != nil {
		t.Fatalf("run: %v", err)
	}
	out, _, err = runDLQCLI(t, "sources", "run", "swr-poll", "--dry-run", "-c", cfg)
	if err != nil || !strings.Contains(out, "would enqueue 0 jobs") {
		t.Fatalf("a dry run after a round:\n%s %v", out, err)
	}
	out, _, err = runDLQCLI(t, "sources", "list", "-c", cfg)
	if err != nil || !strings.Contains(out, "swr-poll") || !strings.Contains(out, "swr") || !strings.Contains(out, "1m0s") {
		t.Fatalf("list:\n%s %v", out, err)
	}
}
