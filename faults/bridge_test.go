//go:build linux

package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/bridgeproc"
	"github.com/scan-bridge/scan-bridge/queue"
)

// Credentials and target the fake HSS and the bridge share. They are test
// values, not secrets.
const (
	testAK, testSK = "AKFAULTSUITE", "SKFAULTSUITESECRET"
	testProject    = "0123456789abcdef0123456789abcdef"
	testRegion     = "cn-north-4"
	genericToken   = "faults-generic-token"
	harborToken    = "faults-harbor-token"
)

// bridge is one bridge binary run as a subprocess, restartable on the same
// config, HTTP port and data dir. Each run logs JSON to its own file, shown
// when the test fails.
type bridge struct {
	t    *testing.T
	dir  string
	addr string // webhook listener's address, fixed for every run
	// adminAddr is the admin listener's address (/metrics), fixed too.
	adminAddr string
	// cfg is the YAML config (written as JSON, which YAML reads) without
	// the queue section, which is rendered from Queue.
	cfg map[string]any
	// Queue is the queue section: the test opens the same queue to read
	// dead letters, so both sides must derive the same consumer.
	Queue queue.Config
	env   []string

	runs   int
	logs   []string
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current run exited
	exit   error         // the run's Wait error, set before done closes
	client *http.Client

	mu   sync.Mutex
	peak int64 // largest VmHWM (bytes) of every run
	rss  int64 // latest VmRSS (bytes) of the current run
}

// unlimited is a receiver rate limit no scenario reaches.
var unlimited = map[string]any{"per_second": 1e6, "burst": 1_000_000}

// newBridge prepares a bridge for the fake HSS at hssURL and the NATS at
// natsURL (empty: the embedded server, its store under the bridge's dir).
// The settings are fast test ones; scenarios change them before start.
func newBridge(t *testing.T, hssURL, natsURL string) *bridge {
	t.Helper()
	dir := t.TempDir()
	b := &bridge{
		t:         t,
		dir:       dir,
		addr:      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		adminAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		env: []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir,
			"HUAWEICLOUD_SDK_AK=" + testAK, "HUAWEICLOUD_SDK_SK=" + testSK,
			"GOTRACEBACK=all", // a SIGQUIT on a hang dumps every goroutine to the log
		},
		client: &http.Client{Timeout: 10 * time.Second},
	}
	b.cfg = map[string]any{
		"http": map[string]any{
			"listen": b.addr, "publish_timeout": "2s", "read_timeout": "5s", "shutdown_grace": "10s",
		},
		"admin": map[string]any{"listen": b.adminAddr},
		"nats":  map[string]any{"url": natsURL, "data_dir": filepath.Join(dir, "nats"), "listen": ""},
		"hss": map[string]any{
			"region": testRegion, "project_id": testProject, "endpoint": hssURL,
			"calls_per_minute": 600, "burst": 20, "max_concurrent": 2, "call_timeout": "5s",
			// The scenarios' images are in no SWR of the fake: the scan
			// path without the presence gate (scanner/presence.go).
			"presence_check": false,
		},
		"log": map[string]any{"level": "info", "format": "json"},
		// The scenarios load the intake on purpose (webhooks in flight at
		// a kill, a 100k backlog): the receivers' rate limit, whose
		// default would answer most of that load 429, is lifted.
		"receivers": []any{
			map[string]any{"name": "generic", "format": "generic", "rate_limit": unlimited,
				"auth": map[string]any{"method": "token", "secrets": []string{genericToken}}},
			map[string]any{"name": "harbor", "format": "harbor", "rate_limit": unlimited,
				"auth": map[string]any{"method": "token", "secrets": []string{harborToken}}},
		},
	}
	// Heartbeat 1s makes AckWait 3s: what a killed process held comes
	// back 3s later instead of 30s.
	b.Queue.Consumer = queue.ConsumerConfig{
		Linger: 200 * time.Millisecond, Heartbeat: time.Second, InfoInterval: time.Second,
		BackoffBase: 100 * time.Millisecond, BackoffCap: time.Second, MaxItems: 20,
	}
	t.Cleanup(func() {
		if b.running() {
			b.signal(syscall.SIGKILL)
			<-b.done
		}
		if t.Failed() || os.Getenv("SCANBRIDGE_FAULTS_LOGS") == "1" {
			b.dumpLogs(120)
		}
	})
	return b
}

// set changes one setting by its dotted path, e.g. "hss.calls_per_minute".
func (b *bridge) set(path string, v any) { bridgeproc.Set(b.cfg, path, v) }

// writeConfig renders the config file for the next run.
func (b *bridge) writeConfig() string {
	b.t.Helper()
	cfg := make(map[string]any, len(b.cfg)+1)
	for k, v := range b.cfg {
		cfg[k] = v
	}
	cfg["queue"] = koanfMap(reflect.ValueOf(b.Queue))
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		b.t.Fatalf("bridge config: %v", err)
	}
	path := filepath.Join(b.dir, "bridge.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.t.Fatalf("bridge config: %v", err)
	}
	return path
}

// koanfMap renders a config struct by its koanf tags, leaving zero fields
// out (the bridge applies the same defaults the test's queue.Open does)
// and writing durations as Go duration strings.
func koanfMap(v reflect.Value) map[string]any {
	out := map[string]any{}
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Tag.Get("koanf")
		if name == "" || f.IsZero() {
			continue
		}
		switch {
		case f.Type() == reflect.TypeFor[time.Duration]():
			out[name] = time.Duration(f.Int()).String()
		case f.Kind() == reflect.Struct:
			out[name] = koanfMap(f)
		default:
			out[name] = f.Interface()
		}
	}
	return out
}

// start runs the binary and waits until /readyz answers 200.
func (b *bridge) start() {
	b.t.Helper()
	if b.running() {
		b.t.Fatal("bridge: already running")
	}
	cfgPath := b.writeConfig()
	b.runs++
	logPath := filepath.Join(b.dir, fmt.Sprintf("bridge-run%d.log", b.runs))
	logFile, err := os.Create(logPath)
	if err != nil {
		b.t.Fatalf("bridge log: %v", err)
	}
	defer logFile.Close() // the child has its own descriptor
	b.logs = append(b.logs, logPath)

	cmd := exec.Command(bridgeBin, "serve", "--config", cfgPath)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = b.dir, b.env, logFile, logFile
	// If the test binary dies (a go test -timeout panic), so does the
	// bridge: no process outlives the suite.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("bridge start: %v", err)
	}
	done := make(chan struct{})
	b.cmd, b.done = cmd, done
	go func() {
		b.exit = cmd.Wait()
		close(done)
	}()
	go b.sample(cmd.Process.Pid, done)
	b.waitReady(30 * time.Second)
}

// waitReady polls /readyz until 200; it fails at once if the process
// exits, and after bound (a hang).
func (b *bridge) waitReady(bound time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(bound)
	for {
		if code, _, err := b.get("/readyz"); err == nil && code == http.StatusOK {
			return
		}
		select {
		case <-b.done:
			b.t.Fatalf("bridge run %d exited before it was ready: %v", b.runs, b.exit)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("bridge run %d not ready after %s", b.runs, bound)
		}
	}
}

func (b *bridge) running() bool {
	if b.done == nil {
		return false
	}
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

func (b *bridge) signal(sig os.Signal) {
	b.t.Helper()
	if err := b.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		b.t.Fatalf("bridge: send %v: %v", sig, err)
	}
}

// kill is the crash: SIGKILL, nothing runs after it.
func (b *bridge) kill() {
	b.t.Helper()
	b.signal(syscall.SIGKILL)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.t.Fatal("bridge: still running 10s after SIGKILL")
	}
}

// term sends SIGTERM and waits for the exit; after bound (which only a
// hang exceeds) it dumps the goroutines with SIGQUIT and fails. It returns
// how long the exit took and the exit code.
func (b *bridge) term(bound time.Duration) (time.Duration, int) {
	b.t.Helper()
	began := time.Now()
	b.signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(bound):
		b.signal(syscall.SIGQUIT)
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			b.signal(syscall.SIGKILL)
			<-b.done
		}
		b.t.Fatalf("bridge: no exit within %s of SIGTERM (goroutine dump in the log below)", bound)
	}
	return time.Since(began), b.cmd.ProcessState.ExitCode()
}

// sample reads the process's VmHWM and VmRSS every 50ms while it runs.
// VmHWM is the kernel's own peak, so sampling misses nothing but the last
// 50ms of a run.
func (b *bridge) sample(pid int, done <-chan struct{}) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if hwm, rss, err := bridgeproc.Memory(pid); err == nil {
			b.mu.Lock()
			b.peak, b.rss = max(b.peak, hwm), rss
			b.mu.Unlock()
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// peakRSS is the largest VmHWM of every run so far.
func (b *bridge) peakRSS() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}

// memory reads the current run's VmHWM and VmRSS now.
func (b *bridge) memory() (hwm, rss int64) {
	b.t.Helper()
	hwm, rss, err := bridgeproc.Memory(b.cmd.Process.Pid)
	if err != nil {
		b.t.Fatalf("bridge memory: %v", err)
	}
	b.mu.Lock()
	b.peak = max(b.peak, hwm)
	b.mu.Unlock()
	return hwm, rss
}

// cli runs another command of the binary (dlq, ...) with the running
// bridge's config and environment, as an operator on the same host would,
// and returns its standard output.
func (b *bridge) cli(ctx context.Context, args ...string) (string, error) {
	args = append(args, "--config", filepath.Join(b.dir, "bridge.yaml"))
	cmd := exec.CommandContext(ctx, bridgeBin, args...)
	cmd.Dir, cmd.Env = b.dir, b.env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("bridge %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// url is the bridge's address for path on the webhook listener.
func (b *bridge) url(path string) string { return "http://" + b.addr + path }

// get does one GET on the bridge's webhook listener.
func (b *bridge) get(path string) (int, []byte, error) {
	return b.getURL(b.url(path))
}

// getURL does one GET.
func (b *bridge) getURL(url string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("get %s: %w", url, err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("get %s: read: %w", url, err)
	}
	return resp.StatusCode, body, nil
}

// metrics scrapes /metrics on the admin listener and sums each metric's
// series by name.
func (b *bridge) metrics() map[string]float64 {
	b.t.Helper()
	code, body, err := b.getURL("http://" + b.adminAddr + "/metrics")
	if err != nil || code != http.StatusOK {
		b.t.Fatalf("scrape /metrics: %d %v", code, err)
	}
	return parseMetrics(string(body))
}

// parseMetrics reads the Prometheus text format: "name{labels} value" or
// "name value" per line, comments skipped.
func parseMetrics(text string) map[string]float64 {
	out := map[string]float64{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 {
			name = line[:i]
			rest = line[strings.LastIndexByte(line, '}')+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			out[name] += v
		}
	}
	return out
}

// intakeClosed reports whether the HTTP port refuses connections.
func (b *bridge) intakeClosed() bool {
	conn, err := net.DialTimeout("tcp", b.addr, time.Second)
	if err != nil {
		return true
	}
	conn.Close()
	return false
}

// poll checks cond every 20ms until it holds or bound passed, and says
// which. Unlike waitFor it does not fail the test, so it may run in a
// goroutine of its own.
func (b *bridge) poll(bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// logged reports whether the current run logged a line with this msg.
func (b *bridge) logged(msg string) bool {
	data, err := os.ReadFile(b.logs[len(b.logs)-1])
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(data)) {
		var rec struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			return true
		}
	}
	return false
}

// dumpLogs logs the last n lines of each run's log.
func (b *bridge) dumpLogs(n int) {
	for i, path := range b.logs {
		data, err := os.ReadFile(path)
		if err != nil {
			b.t.Logf("bridge run %d log: %v", i+1, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		b.t.Logf("bridge run %d log (last %d lines):\n%s", i+1, len(lines), strings.Join(lines, "\n"))
	}
}
