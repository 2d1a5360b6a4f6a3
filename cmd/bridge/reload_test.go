package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

const (
	reloadTokenA = "reload-token-a-0123456789"
	reloadTokenB = "reload-token-b-0123456789"
	reloadTokenC = "reload-token-c-0123456789"
)

// syncBuffer is a log destination the test reads while the bridge
// writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// k8sSecret lays out dir as the kubelet mounts a Secret: the file is a
// symlink through ..data to a timestamped directory, and an update makes a
// new directory and swaps ..data in one rename
// (https://kubernetes.io/docs/concepts/configuration/secret/#mounted-secrets-are-updated-automatically).
type k8sSecret struct {
	t       *testing.T
	dir     string
	version int
}

func newK8sSecret(t *testing.T, name, value string) (*k8sSecret, string) {
	s := &k8sSecret{t: t, dir: t.TempDir()}
	s.update(name, value)
	if err := os.Symlink(filepath.Join("..data", name), filepath.Join(s.dir, name)); err != nil {
		t.Fatal(err)
	}
	return s, filepath.Join(s.dir, name)
}

func (s *k8sSecret) update(name, value string) {
	s.version++
	v := fmt.Sprintf("..2026_12_05_%d", s.version)
	if err := os.Mkdir(filepath.Join(s.dir, v), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, v, name), []byte(value+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(v, tmp); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		s.t.Fatal(err)
	}
}

// reloadBridge runs serve, the path bridge serve takes, with its
// configuration read from a YAML file that holds the receivers, the
// routes and the log level (the rest is fixed by the test, as flags
// would be), and returns the webhook and admin base URLs and the log.
func reloadBridge(t *testing.T, file string) (base, adminBase string, logs *syncBuffer) {
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
	dataDir := t.TempDir()
	fixed := func(c *config.Config) {
		c.DryRun = true
		c.HTTP.Listen, c.Admin.Listen = addr, adminAddr
		c.HTTP.ShutdownGrace = 5 * time.Second
		c.NATS.DataDir, c.NATS.Listen = dataDir, ""
		c.HSS.Region, c.HSS.ProjectID = "cn-north-4", "0123456789abcdef0123456789abcdef"
		c.Queue.Consumer.Linger = 200 * time.Millisecond
	}
	source := func() (config.Config, error) {
		return config.Check(file, func() []string { return nil }, fixed, hssCredentials)
	}
	cfg, err := source()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logs, source) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Logf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("bridge log:\n%s", logs.String())
		}
	})
	base, adminBase = "http://"+addr, "http://"+adminAddr
	natstest.Eventually(t, 30*time.Second, "the bridge to be ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base, adminBase, logs
}

func postHarbor(t *testing.T, url, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// metricValue reads one sample of the admin listener's /metrics, e.g.
// `scanbridge_config_reloads_total{result="failure"}`.
func metricValue(t *testing.T, adminBase, sample string) float64 {
	t.Helper()
	resp, err := http.Get(adminBase + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", sample, err)
			}
			return f
		}
	}
	t.Fatalf("%s is not on /metrics", sample)
	return 0
}

func writeConfig(t *testing.T, file, yaml string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

func hup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// TestReloadServe runs the bridge as bridge serve does and changes its
// configuration under it: SIGHUP adds a receiver, a Kubernetes-style
// update of a mounted secret rotates another with no signal, a bad
// configuration is refused (the old receivers keep answering, the failure
// metric moves), and a log level change takes effect.
func TestReloadServe(t *testing.T) {
	secret, secretFile := newK8sSecret(t, "token", reloadTokenA)
	file := filepath.Join(t.TempDir(), "bridge.yaml")
	receivers := func(extra string) string {
		return fmt.Sprintf(`receivers:
  - name: harbor
    format: harbor
    auth:
      method: token
      secret_files: [%q]
%s`, secretFile, extra)
	}
	writeConfig(t, file, receivers("")+"log:\n  level: info\n")
	base, adminBase, logs := reloadBridge(t, file)
	harbor, second := base+"/webhooks/harbor", base+"/webhooks/second"
	body := alertsHarborPush

	reloads := func(result string) float64 {
		return metricValue(t, adminBase, `scanbridge_config_reloads_total{result="`+result+`"}`)
	}
	if got := postHarbor(t, harbor, reloadTokenA, body); got != http.StatusAccepted {
		t.Fatalf("before any reload: %d, want 202", got)
	}
	if got := metricValue(t, adminBase, "scanbridge_config_last_reload_successful"); got != 1 {
		t.Fatalf("scanbridge_config_last_reload_successful at start = %v, want 1", got)
	}

	// SIGHUP adds a receiver.
	withSecond := receivers(fmt.Sprintf(`  - name: second
    format: harbor
    auth:
      method: token
      secrets: [%q]
`, reloadTokenC))
	writeConfig(t, file, withSecond+"log:\n  level: info\n")
	hup(t)
	natstest.Eventually(t, 10*time.Second, "the added receiver to answer 202", func() bool {
		return postHarbor(t, second, reloadTokenC, body) == http.StatusAccepted
	})
	natstest.Eventually(t, 10*time.Second, "the reload to be counted", func() bool { return reloads("success") == 1 })

	// The mounted secret is updated; no signal.
	secret.update("token", reloadTokenB)
	natstest.Eventually(t, 10*time.Second, "the rotated secret to be read", func() bool {
		return postHarbor(t, harbor, reloadTokenB, body) == http.StatusAccepted
	})
	if got := postHarbor(t, harbor, reloadTokenA, body); got != http.StatusUnauthorized {
		t.Errorf("the old secret after the rotation: %d, want 401", got)
	}

	// A bad configuration: refused, the old one kept.
	writeConfig(t, file, withSecond+"log:\n  level: info\n  levle: debug\n")
	hup(t)
	natstest.Eventually(t, 10*time.Second, "the failed reload to be counted", func() bool { return reloads("failure") == 1 })
	if got := metricValue(t, adminBase, "scanbridge_config_last_reload_successful"); got != 0 {
		t.Errorf("scanbridge_config_last_reload_successful after a refused reload = %v, want 0", got)
	}
	if !strings.Contains(logs.String(), `log.levle: unknown setting`) {
		t.Errorf("the log does not give the reason as bridge config check words it:\n%s", logs.String())
	}
	for url, token := range map[string]string{harbor: reloadTokenB, second: reloadTokenC} {
		if got := postHarbor(t, url, token, body); got != http.StatusAccepted {
			t.Errorf("%s after a refused reload: %d, want 202", url, got)
		}
	}

	// A setting only a restart applies: refused, naming it.
	writeConfig(t, file, withSecond+"log:\n  level: info\n  format: text\n")
	hup(t)
	natstest.Eventually(t, 10*time.Second, "the second failed reload to be counted", func() bool { return reloads("failure") == 2 })
	if !strings.Contains(logs.String(), "log.format changed: restart the bridge to apply") {
		t.Errorf("the log does not name log.format as needing a restart")
	}

	// The log level switches to debug: a request's job line appears.
	writeConfig(t, file, withSecond+"log:\n  level: debug\n")
	hup(t)
	natstest.Eventually(t, 10*time.Second, "the reload to debug to be applied", func() bool { return reloads("success") == 3 })
	if strings.Contains(logs.String(), `"msg":"job stored"`) {
		t.Fatal(`"job stored" (debug) was logged at level info`)
	}
	postHarbor(t, second, reloadTokenC, body)
	if !strings.Contains(logs.String(), `"msg":"job stored"`) {
		t.Errorf(`no "job stored" line at level debug`)
	}
	if got := metricValue(t, adminBase, "scanbridge_config_last_reload_successful"); got != 1 {
		t.Errorf("scanbridge_config_last_reload_successful = %v, want 1", got)
	}
}

// TestReloadUnderLoad reloads 20 times while 4 workers send 2,000
// webhooks each to a bridge with the real store: every request is
// answered by one configuration or the other, 202 for the token every
// configuration accepts and 202 or 401 for the one only half of them do;
// no 5xx, no connection error. Counts, not timing.
func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("8,000 webhooks")
	}
	const workers, requests, reloads = 4, 2000, 20
	recv := func(secrets ...string) handlers.ReceiverConfig {
		return handlers.ReceiverConfig{Name: "harbor", Format: "harbor",
			Auth:      handlers.AuthConfig{Method: handlers.AuthToken, Secrets: secrets},
			RateLimit: handlers.RateLimitConfig{PerSecond: 1e6, Burst: workers * requests}}
	}
	e := newE2E(t, func(c *config.Config) { c.Receivers = []handlers.ReceiverConfig{recv(testToken, reloadTokenB)} })
	var n int
	e.app.reloader.source = func() (config.Config, error) {
		n++
		c := e.cfg
		c.Receivers = []handlers.ReceiverConfig{recv(testToken)}
		if n%2 == 0 {
			c.Receivers = []handlers.ReceiverConfig{recv(testToken, reloadTokenB)}
		}
		return c, c.Validate()
	}
	url := "http://" + e.app.ln.Addr().String() + "/webhooks/harbor"
	body := harborPush("team", "app", "1.0")
	type tally struct {
		codes   map[int]int
		errs    int
		wrong   int // 401 for the token every configuration accepts
		firstEr error
	}
	tallies := make([]tally, workers)
	stop := make(chan struct{})
	var answered atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		tallies[w].codes = map[int]int{}
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			tl := &tallies[w]
			for i := range requests {
				token := testToken
				if i%2 == 1 {
					token = reloadTokenB
				}
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Authorization", token)
				resp, err := client.Do(req)
				if err != nil {
					answered.Add(1)
					tl.errs++
					if tl.firstEr == nil {
						tl.firstEr = err
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				answered.Add(1)
				tl.codes[resp.StatusCode]++
				if resp.StatusCode == http.StatusUnauthorized && token == testToken {
					tl.wrong++
				}
			}
		})
	}
	go func() { wg.Wait(); close(stop) }()
	// Reload i happens once i/(reloads+1) of the requests are answered,
	// so every reload falls among them whatever the machine's speed.
	for i := 1; i <= reloads; i++ {
		for answered.Load() < int64(i*workers*requests/(reloads+1)) {
			time.Sleep(time.Millisecond)
		}
		if err := e.app.reloader.reload("test"); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	if answered.Load() == workers*requests {
		t.Errorf("the last reload came after the last request")
	}
	<-stop
	total := map[int]int{}
	for w, tl := range tallies {
		if tl.errs > 0 {
			t.Errorf("worker %d: %d connection errors, the first: %v", w, tl.errs, tl.firstEr)
		}
		if tl.wrong > 0 {
			t.Errorf("worker %d: %d answers 401 to the token every configuration accepts", w, tl.wrong)
		}
		for code, n := range tl.codes {
			total[code] += n
		}
	}
	for code, n := range total {
		if code != http.StatusAccepted && code != http.StatusUnauthorized {
			t.Errorf("%d answers %d, want only 202 and 401", n, code)
		}
	}
	if total[http.StatusAccepted]+total[http.StatusUnauthorized] != workers*requests {
		t.Errorf("answers %v, want %d in all", total, workers*requests)
	}
	t.Logf("answers %v over %d reloads", total, reloads)
}

// TestReloadRefusesWhatTakesARestart: a reload that changes a setting
// only a restart applies, the admin tokens, or the HSS targets the
// consumer sends to is refused whole, naming the reason; the receivers
// keep answering and the failure is counted.
func TestReloadRefusesWhatTakesARestart(t *testing.T) {
	e := newE2E(t)
	adminFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(adminFile, []byte(strings.Repeat("x", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*config.Config)
		want   string
	}{
		{"nats.url", func(c *config.Config) { c.NATS.URL = "nats://127.0.0.1:4222" }, "nats.url changed: restart the bridge to apply"},
		{"the stream", func(c *config.Config) { c.Queue.Stream.Name = "OTHER" }, "queue.stream.name changed: restart the bridge to apply"},
		{"switching the admin API on", func(c *config.Config) { c.Admin.Token = strings.Repeat("t", 32) }, "switching the admin API on or off"},
		{"a new HSS target", func(c *config.Config) {
			r := c.Receivers[0]
			r.Name, r.Target.ProjectID = "other", "fedcba9876543210fedcba9876543210"
			c.Receivers = append(c.Receivers, r)
		}, "jobs could name the HSS target"},
		{"several at once, all named", func(c *config.Config) {
			c.HTTP.MaxInFlight = 7
			c.Log.Format = "text"
		}, "http.max_in_flight changed: restart the bridge to apply\nlog.format changed: restart the bridge to apply"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := e.cfg
			next.Receivers = slices.Clone(e.cfg.Receivers)
			tt.mutate(&next)
			err := e.app.reloader.reloadWith("test", next)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("reload error = %v, want one saying %q", err, tt.want)
			}
			if got := testutil.ToFloat64(e.app.reloader.reloads.WithLabelValues("failure")); got != float64(i+1) {
				t.Errorf("failed reloads = %v, want %d", got, i+1)
			}
			if code, ans := e.post(harborPush("team", "app", "1.0"), testToken); code != http.StatusAccepted {
				t.Errorf("the receiver after a refused reload: %d %+v, want 202", code, ans)
			}
		})
	}
	// A receiver added with a target the consumer already sends to is
	// applied.
	next := e.cfg
	r := e.cfg.Receivers[0]
	r.Name = "again"
	next.Receivers = append(slices.Clone(e.cfg.Receivers), r)
	if err := e.app.reloader.reloadWith("test", next); err != nil {
		t.Fatalf("reload with a receiver of a known target: %v", err)
	}
}

// TestReloadRotatesAdminTokens: a mounted admin.token_file updated in
// place (no signal) rotates the admin API's bearer token while it serves;
// the old token is refused from then on.
func TestReloadRotatesAdminTokens(t *testing.T) {
	oldToken, newToken := strings.Repeat("o", 32), strings.Repeat("n", 32)
	secret, tokenFile := newK8sSecret(t, "admin-token", oldToken)
	file := filepath.Join(t.TempDir(), "bridge.yaml")
	writeConfig(t, file, fmt.Sprintf(`receivers:
  - name: harbor
    format: harbor
    auth:
      method: token
      secrets: [%q]
admin:
  token_file: %q
`, reloadTokenA, tokenFile))
	_, adminBase, _ := reloadBridge(t, file)
	status := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, adminBase+"/admin/dlq", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET /admin/dlq: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(oldToken); got != http.StatusOK {
		t.Fatalf("the admin token at start: %d, want 200", got)
	}
	secret.update("admin-token", newToken)
	natstest.Eventually(t, 10*time.Second, "the rotated admin token to be accepted", func() bool {
		return status(newToken) == http.StatusOK
	})
	if got := status(oldToken); got != http.StatusUnauthorized {
		t.Errorf("the old admin token after the rotation: %d, want 401", got)
	}
	if got := metricValue(t, adminBase, "scanbridge_config_last_reload_successful"); got != 1 {
		t.Errorf("scanbridge_config_last_reload_successful = %v, want 1", got)
	}
}
