package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// The credentials and target of every run: the fake accepts this AK/SK
// pair only, and the bridge reads it from HUAWEICLOUD_SDK_AK/SK as a real
// deployment would.
const (
	accessKey   = "AKLIFECYCLERUN"
	secretKey   = "SKLIFECYCLERUNSECRET0123456789"
	region      = "cn-north-4"
	projectID   = "0123456789abcdef0123456789abcdef"
	imageType   = "private_image"
	hookToken   = "lifecycle-run-token-0123456789"
	receiverNm  = "harbor"
	readyBound  = 60 * time.Second
	stopBound   = 30 * time.Second
	natsReadyIn = 15 * time.Second
)

// env is one scenario's world: a nats-server, the fake HSS behind a call
// recorder, and the bridge process.
type env struct {
	dir     string
	ns      *server.Server
	natsURL string
	fake    *hsstest.Fake
	hssSrv  *http.Server
	hssURL  string
	rec     *recorder
	bridge  *exec.Cmd
	done    chan struct{} // closed when the bridge process exited
	hookURL string
	logPath string
}

// startEnv starts everything of one scenario. stop must be called even
// when it fails.
func startEnv(ctx context.Context, o opts, sc scenario, bin string) (*env, error) {
	dir, err := os.MkdirTemp("", "lifecycle-run-"+sc.name+"-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	e := &env{dir: dir}
	ns, err := server.NewServer(&server.Options{
		ServerName: "lifecycle-run", Host: "127.0.0.1", Port: -1,
		JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoLog: true, NoSigs: true,
	})
	if err != nil {
		return e, fmt.Errorf("nats-server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(natsReadyIn) {
		ns.Shutdown()
		return e, fmt.Errorf("nats-server not ready after %s", natsReadyIn)
	}
	e.ns, e.natsURL = ns, ns.ClientURL()

	unknown := hsstest.UnknownImageSilent200
	if o.unknown == "400" {
		unknown = hsstest.UnknownImage400
	}
	e.fake = hsstest.New(hsstest.Options{
		AccessKeys:     map[string]hsstest.Key{accessKey: {SecretKey: secretKey}},
		CallsPerMinute: o.quota,
		SyncDelay:      o.syncDelay,
		AutoSyncAfter:  o.autoSync,
		ScanDuration:   o.scanDuration,
		UnknownImages:  unknown,
	})
	e.rec = &recorder{next: e.fake}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return e, fmt.Errorf("fake HSS listener: %w", err)
	}
	e.hssSrv = &http.Server{Handler: e.rec, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.hssSrv.Serve(ln) }()
	e.hssURL = "http://" + ln.Addr().String()

	httpPort, err := freePort()
	if err != nil {
		return e, err
	}
	e.hookURL = "http://" + httpPort + "/webhooks/" + receiverNm
	cfgPath := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(cfgPath, []byte(bridgeConfig(httpPort, e.natsURL, e.hssURL, dir, o)), 0o600); err != nil {
		return e, fmt.Errorf("write bridge config: %w", err)
	}
	e.logPath = filepath.Join(dir, "bridge.log")
	logf, err := os.Create(e.logPath)
	if err != nil {
		return e, fmt.Errorf("bridge log: %w", err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(cleanEnv(), "HUAWEICLOUD_SDK_AK="+accessKey, "HUAWEICLOUD_SDK_SK="+secretKey)
	// Its own process group: a Ctrl-C at the terminal reaches the harness,
	// which stops the bridge in order (SIGTERM, then the grace period).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return e, fmt.Errorf("start bridge: %w", err)
	}
	e.bridge, e.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(e.done) }()
	if err := e.waitReady(ctx, "http://"+httpPort+"/readyz"); err != nil {
		return e, err
	}
	return e, nil
}

// cleanEnv is the harness's environment without BRIDGE_* and Huawei
// credential variables, so nothing of the caller's shell changes the
// bridge's configuration.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BRIDGE_") || strings.HasPrefix(kv, "HUAWEICLOUD_") || strings.HasPrefix(kv, "CLOUD_SDK_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// bridgeConfig is the bridge's YAML: every batching, quota, presence and
// watch setting at its default; only addresses, the target, the receiver
// and its intake rate limit (raised so a 500-push burst is not refused at
// the door) are set.
func bridgeConfig(httpAddr, natsURL, hssURL, dir string, o opts) string {
	return fmt.Sprintf(`http:
  listen: %q
nats:
  url: %q
  data_dir: %q
hss:
  region: %s
  project_id: %s
  endpoint: %q
  calls_per_minute: %d
admin:
  listen: ""
log:
  level: %s
  format: json
receivers:
  - name: %s
    format: harbor
    auth:
      method: token
      secrets: [%q]
    rate_limit: {per_second: 1000, burst: 1000}
`, httpAddr, natsURL, filepath.Join(dir, "bridge-data"), region, projectID, hssURL, o.quota, o.logLevel, receiverNm, hookToken)
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

func (e *env) waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(readyBound)
	c := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.done:
			return fmt.Errorf("bridge exited before it was ready; log %s:\n%s", e.logPath, tail(e.logPath, 20))
		case <-time.After(250 * time.Millisecond):
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("bridge not ready after %s; log %s:\n%s", readyBound, e.logPath, tail(e.logPath, 20))
}

// stop ends the bridge (SIGTERM, then SIGKILL after stopBound), the fake
// and the nats-server, and removes the temp dir unless keep.
func (e *env) stop(keep bool) {
	if e.bridge != nil && e.bridge.Process != nil {
		_ = e.bridge.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.done:
		case <-time.After(stopBound):
			_ = e.bridge.Process.Kill()
			<-e.done
		}
	}
	if e.hssSrv != nil {
		e.fake.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = e.hssSrv.Shutdown(ctx)
		cancel()
	}
	if e.ns != nil {
		e.ns.Shutdown()
		e.ns.WaitForShutdown()
	}
	if e.dir != "" && !keep {
		_ = os.RemoveAll(e.dir)
	}
}

// tail is the last n lines of a file, for error messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// call is one HSS request as the fake answered it.
type call struct {
	At     time.Time
	API    string
	Status int
}

// recorder is an http.Handler in front of the fake that records every
// call's API, time and status (the fake itself records only batch-scan
// bodies).
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	// calls is bounded by the quota: at most quota calls a minute per API
	// are accepted, and refused ones are few; maxCalls bounds it anyway.
	calls []call
}

const maxCalls = 100000

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r.next.ServeHTTP(sw, req)
	r.mu.Lock()
	if len(r.calls) < maxCalls {
		r.calls = append(r.calls, call{At: at, API: apiOf(req.Method, req.URL.Path), Status: sw.status})
	}
	r.mu.Unlock()
}

func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// apiOf names the HSS API of a request as the fake routes it
// (hssclient/hsstest/api.go).
func apiOf(method, path string) string {
	_, rest, ok := strings.Cut(strings.TrimPrefix(path, "/v5/"), "/")
	if !ok || !strings.HasPrefix(path, "/v5/") {
		return method + " " + path
	}
	switch method + " /" + rest {
	case "POST /image/batch-scan":
		return hsstest.APIBatchScan
	case "GET /image/swr-repository":
		return hsstest.APIListSwrImageRepository
	case "POST /image/synchronize":
		return hsstest.APIRunImageSynchronize
	case "POST /image/image-scan/tasks":
		return hsstest.APICreateManualImageScanTask
	case "GET /image/tasks":
		return hsstest.APIListImageScanTask
	case "POST /image/image-sync/tasks":
		return hsstest.APICreateImageSynchronizeTask
	case "GET /image/registries/images":
		return hsstest.APIListRegistryImages
	}
	return method + " /" + rest
}
