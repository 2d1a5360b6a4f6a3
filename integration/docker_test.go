package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// envRequireDocker makes a missing Docker engine a failure, as CI=true does.
const envRequireDocker = "SCANBRIDGE_REQUIRE_DOCKER"

// dockerRequired reports whether a missing engine fails the tests instead
// of skipping them: on CI a skip would pass silently with nothing tested.
func dockerRequired() bool {
	return os.Getenv("CI") == "true" || os.Getenv(envRequireDocker) == "1"
}

// dockerClient is the process's connection to the engine, made once: every
// test asks for it, and an engine that does not answer should cost one
// time-out, not one per test.
var dockerClient = sync.OnceValues(func() (*testcontainers.DockerClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	// NewDockerClientWithOpts falls back to a client that was never
	// reached; only a ping tells whether an engine answers.
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return nil, fmt.Errorf("ping docker engine: %w", err)
	}
	return cli, nil
})

// requireDocker returns the engine's client, or skips the test when no
// engine answers (fails it when dockerRequired).
func requireDocker(t *testing.T) *testcontainers.DockerClient {
	t.Helper()
	cli, err := dockerClient()
	if err != nil {
		if dockerRequired() {
			t.Fatalf("a Docker engine is required (CI=true or %s=1) and none answers: %v", envRequireDocker, err)
		}
		t.Skipf("no Docker engine answers, skipping (set %s=1 to fail instead): %v", envRequireDocker, err)
	}
	return cli
}

// repoRoot is the folder of the repository's go.mod.
var repoRoot = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside the module")
	}
	return filepath.Dir(gomod), nil
})

// mustRepoRoot is repoRoot for a test.
func mustRepoRoot(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// freeLoopbackPort returns a TCP port that was free on 127.0.0.1 a moment
// ago, for a container on the host network, which cannot be given port 0 and
// be asked afterwards. Another process may take it in between; the
// container then fails to start and says so.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// containerLogs returns what the container wrote, for a failure message.
func containerLogs(ctx context.Context, c testcontainers.Container) string {
	rc, err := c.Logs(ctx)
	if err != nil {
		return fmt.Sprintf("(no logs: %v)", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return fmt.Sprintf("%s\n(reading logs: %v)", b, err)
	}
	return string(b)
}

// ctxDeadline bounds a wait inside a test by the test's own context.
func ctxDeadline(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
