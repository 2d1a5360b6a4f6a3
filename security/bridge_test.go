//go:build linux

package security

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/bridgeproc"
)

// Secrets and target of the bridges the suite runs. They are test values,
// not secrets.
const (
	harborToken = "security-suite-harbor-token"
	hmacKey     = "security-suite-hmac-key"
	pathToken   = "security-suite-path-token-0123456789"
	adminToken  = "security-suite-admin-token-0123456789"
	testProject = "0123456789abcdef0123456789abcdef"
	testRegion  = "cn-north-4"
)

// bridge is one bridge binary run as a subprocess with a config of its
// own, in dry-run (the built-in HSS simulator: nothing leaves the
// machine). Its log is shown when the test fails.
type bridge struct {
	t         *testing.T
	dir       string
	addr      string // webhook listener
	adminAddr string // admin listener
	cfg       map[string]any
	cmd       *exec.Cmd
	done      chan struct{} // closed when the process exited
	exit      error         // its Wait error, set before done closes
	log       string
}

// newBridge prepares a bridge with every receiver the attacks need, an
// admin token and the embedded NATS in-process only (natsURL empty) or
// the NATS at natsURL. Tests change cfg before start.
func newBridge(t *testing.T, natsURL string) *bridge {
	t.Helper()
	dir := t.TempDir()
	b := &bridge{
		t: t, dir: dir,
		addr:      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		adminAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		log:       filepath.Join(dir, "bridge.log"),
	}
	// The limits are the defaults but for two: the Quay receiver that
	// lets a body through to its max_jobs cap, and nothing else.
	b.cfg = map[string]any{
		"dry_run": true,
		"http":    map[string]any{"listen": b.addr, "shutdown_grace": "5s"},
		"admin":   map[string]any{"listen": b.adminAddr, "token": adminToken},
		"nats":    map[string]any{"url": natsURL, "data_dir": filepath.Join(dir, "nats"), "listen": ""},
		"hss":     map[string]any{"region": testRegion, "project_id": testProject},
		"log":     map[string]any{"level": "info", "format": "json"},
		"receivers": []any{
			map[string]any{"name": "harbor", "format": "harbor",
				"auth": map[string]any{"method": "token", "secrets": []string{harborToken}}},
			map[string]any{"name": "ci", "format": "generic",
				"auth": map[string]any{"method": "hmac", "header": "X-Signature-256", "prefix": "sha256=", "secrets": []string{hmacKey}}},
			map[string]any{"name": "quay", "format": "quay", "max_body_bytes": 2 << 20,
				"auth": map[string]any{"method": "path-token", "secrets": []string{pathToken}}},
			map[string]any{"name": "quay-default", "format": "quay",
				"auth": map[string]any{"method": "path-token", "secrets": []string{pathToken}}},
			map[string]any{"name": "generic", "format": "generic",
				"auth": map[string]any{"method": "token", "secrets": []string{harborToken}}},
		},
	}
	t.Cleanup(func() {
		if b.running() {
			b.cmd.Process.Signal(syscall.SIGKILL)
			<-b.done
		}
		if t.Failed() {
			b.dumpLog(60)
		}
	})
	return b
}

// set changes one setting by its dotted path, e.g. "nats.intake.enabled".
func (b *bridge) set(path string, v any) { bridgeproc.Set(b.cfg, path, v) }

// start writes the config (JSON, which YAML reads), runs the binary and
// waits until /readyz answers 200.
func (b *bridge) start() {
	b.t.Helper()
	data, err := json.MarshalIndent(b.cfg, "", "  ")
	if err != nil {
		b.t.Fatalf("bridge config: %v", err)
	}
	cfgPath := filepath.Join(b.dir, "bridge.yaml")
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		b.t.Fatalf("bridge config: %v", err)
	}
	logFile, err := os.Create(b.log)
	if err != nil {
		b.t.Fatalf("bridge log: %v", err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bridgeBin, "serve", "--config", cfgPath)
	cmd.Dir, cmd.Stdout, cmd.Stderr = b.dir, logFile, logFile
	// GOMEMLIMIT as the Helm chart sets it in its default container
	// (deploy/helm/scan-bridge/templates/_helpers.tpl).
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.dir, "TMPDIR=" + b.dir,
		fmt.Sprintf("GOMEMLIMIT=%dMiB", chartMemoryLimit*9/10>>20)}
	// If the test binary dies, so does the bridge.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("bridge start: %v", err)
	}
	b.cmd, b.done = cmd, make(chan struct{})
	go func() {
		b.exit = cmd.Wait()
		close(b.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _, err := get(b.url("/readyz"), nil); err == nil && code == http.StatusOK {
			return
		}
		select {
		case <-b.done:
			b.t.Fatalf("bridge exited before it was ready: %v", b.exit)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.t.Fatal("bridge not ready after 30s")
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

// url is path on the webhook listener, adminURL on the admin listener.
func (b *bridge) url(path string) string      { return "http://" + b.addr + path }
func (b *bridge) adminURL(path string) string { return "http://" + b.adminAddr + path }

// peakRSS is the bridge's VmHWM now: the kernel's own peak of its
// resident set since it started (proc(5)).
func (b *bridge) peakRSS() int64 {
	b.t.Helper()
	hwm, _, err := bridgeproc.Memory(b.cmd.Process.Pid)
	if err != nil {
		b.t.Fatalf("bridge memory: %v", err)
	}
	return hwm
}

// metric sums the samples of a metric family on the admin listener's
// /metrics whose labels include every one of match ("result=\"x\"").
func (b *bridge) metric(name string, match ...string) float64 {
	b.t.Helper()
	code, body, err := get(b.adminURL("/metrics"), nil)
	if err != nil || code != http.StatusOK {
		b.t.Fatalf("scrape /metrics: %d %v", code, err)
	}
	var sum float64
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(line, m)
		}
		fields := strings.Fields(line[strings.LastIndexAny(line, "} ")+1:])
		if !ok || len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// dumpLog logs the last n lines of the bridge's log.
func (b *bridge) dumpLog(n int) {
	data, err := os.ReadFile(b.log)
	if err != nil {
		b.t.Logf("bridge log: %v", err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	b.t.Logf("bridge log (last %d lines):\n%s", len(lines), strings.Join(lines, "\n"))
}

// get does one GET with the headers hdr, on a connection of its own.
func get(url string, hdr http.Header) (int, []byte, error) {
	return do(http.MethodGet, url, hdr, nil)
}

// client never reuses a connection: every probe is a new one, as a
// registry's first delivery is.
var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// do sends one request and returns the status and the body.
func do(method, url string, hdr http.Header, body io.Reader) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: read: %w", method, url, err)
	}
	return resp.StatusCode, data, nil
}

// freePort is a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
