package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/deploy/helm/monitoring"
	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/sources"
)

// prometheusOwn are the metric names the alerts and the dashboard use that
// Prometheus makes itself rather than the bridge: up is the scrape's result.
var prometheusOwn = []string{"up"}

// TestAlertAndDashboardMetricsExist runs the bridge in dry-run, makes it
// accept a webhook, refuse one with a wrong secret, call the (simulated)
// HSS and run a source's round, then scrapes its /metrics and requires every metric name that
// deploy/helm/scan-bridge/files/alerts.yaml and dashboard.json use: an
// alert on a misspelt or renamed metric never fires, and a panel on one
// stays empty, without any other sign.
func TestAlertAndDashboardMetricsExist(t *testing.T) {
	var want []string
	for _, f := range []struct {
		path  string
		names func([]byte) ([]string, error)
	}{
		{monitoring.AlertsFile, monitoring.RuleMetrics},
		{monitoring.DashboardFile, monitoring.DashboardMetrics},
	} {
		data, err := os.ReadFile(filepath.Join("..", "..", f.path))
		if err != nil {
			t.Fatal(err)
		}
		names, err := f.names(data)
		if err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		want = append(want, names...)
	}
	slices.Sort(want)
	want = slices.Compact(want)

	base, adminBase := alertsBridge(t)
	post := func(token string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/webhooks/harbor", strings.NewReader(alertsHarborPush))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("post webhook: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("alerts-test-token-0123456789"); code != http.StatusAccepted {
		t.Fatalf("webhook with the receiver's secret: %d, want 202", code)
	}
	if code := post("wrong-secret"); code != http.StatusUnauthorized {
		t.Fatalf("webhook with a wrong secret: %d, want 401", code)
	}

	// The simulated HSS has accepted the image once the image counter of
	// accepted calls moved.
	var families map[string]bool
	deadline := time.Now().Add(30 * time.Second)
	for {
		var accepted float64
		var err error
		families, accepted, err = scrapeFamilies(adminBase + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		// A source's last success exists once its first round ended.
		if accepted > 0 && families["scanbridge_source_last_success_timestamp_seconds"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for the dry-run HSS call (images accepted: %v) and the source's first round", accepted)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, name := range want {
		if slices.Contains(prometheusOwn, name) {
			continue
		}
		if !families[name] {
			t.Errorf("%s is used by the alerts or the dashboard but is not on /metrics", name)
		}
	}
}

// alertsHarborPush is Harbor's PUSH_ARTIFACT event for one tag.
const alertsHarborPush = `{"type":"PUSH_ARTIFACT","occur_at":1700000000,"operator":"ci","event_data":{"resources":[{"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","tag":"1.0","resource_url":"harbor.example.com/team/app:1.0"}],"repository":{"name":"app","namespace":"team","repo_full_name":"team/app","repo_type":"private"}}}`

// alertsBridge runs serve in dry-run with an embedded NATS until the test
// ends and returns the base URLs of its webhook and admin listeners once
// /readyz answers.
func alertsBridge(t *testing.T) (base, adminBase string) {
	t.Helper()
	freeAddr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	addr, adminAddr := freeAddr(), freeAddr()

	cfg := config.Default()
	cfg.DryRun = true
	cfg.HTTP.Listen = addr
	cfg.Admin.Listen = adminAddr
	cfg.HTTP.ShutdownGrace = 5 * time.Second
	cfg.NATS.DataDir = t.TempDir()
	cfg.NATS.Listen = "" // in-process only
	cfg.HSS.Region, cfg.HSS.ProjectID = "cn-north-4", "0123456789abcdef0123456789abcdef"
	cfg.HSS.CallsPerMinute, cfg.HSS.Burst = 600, 50
	cfg.Queue.Consumer.Linger = 200 * time.Millisecond
	cfg.Receivers = []handlers.ReceiverConfig{{
		Name: "harbor", Format: "harbor",
		Auth: handlers.AuthConfig{Method: handlers.AuthToken, Secrets: []string{"alerts-test-token-0123456789"}},
	}}
	// A source polling a registry (go-containerregistry's implementation
	// of the distribution API, empty), for the sources' metrics.
	reg := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	cfg.Sources = []sources.Config{{Name: "alerts-registry", Kind: "registry", URL: reg.URL, Insecure: true}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Logf("serve: %v", err)
		}
	})

	base, adminBase = "http://"+addr, "http://"+adminAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("serve stopped at start: %v", err)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, adminBase
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bridge was not ready after 30s (last: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrapeFamilies reads url in the Prometheus text format and returns every
// sample name it holds (a histogram x gives x_bucket, x_sum and x_count),
// and the value of scanbridge_queue_images_total{result="accepted"}.
func scrapeFamilies(url string) (map[string]bool, float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, 0, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("scrape %s: %w", url, err)
	}
	names := map[string]bool{}
	var accepted float64
	for name, mf := range mfs {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		names[name] = true
		switch mf.GetType().String() {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[name+s] = true
			}
		case "SUMMARY":
			names[name+"_sum"], names[name+"_count"] = true, true
		}
		if name == "scanbridge_queue_images_total" {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == "accepted" {
						accepted = m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	if len(names) == 0 {
		return nil, 0, errors.New("scrape " + url + ": no metrics")
	}
	return names, accepted, nil
}
