package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// bridgeImageTag is the tag scripts/build-image.sh builds for the tests.
const bridgeImageTag = "scan-bridge/bridge:test"

// bridgeUser is the unprivileged user the Dockerfile runs the bridge as.
const bridgeUser = "65532"

var bridgeBuild struct {
	once sync.Once
	skip string // why the image cannot be built yet
	err  error
}

// bridgeImage returns the bridge image to test: $SCANBRIDGE_BRIDGE_IMAGE
// when set, else scan-bridge/bridge:test built once per test process by
// scripts/build-image.sh from the work tree (the repository's Dockerfile,
// offline, as a user without registry access builds it): about 30 s for a
// changed tree, 3 s for an unchanged one, 2 min when the dependency base
// must be made (see docs/docker.md).
//
// While ./cmd/bridge is not a main package that builds, the test is skipped
// with the compiler's reason; with -short it is skipped too.
func bridgeImage(t *testing.T) string {
	t.Helper()
	cli := requireDocker(t)
	if ref := os.Getenv("SCANBRIDGE_BRIDGE_IMAGE"); ref != "" {
		return ref
	}
	if testing.Short() {
		t.Skip("-short: the bridge image is rebuilt for every change of the tree (about 30 s); set SCANBRIDGE_BRIDGE_IMAGE to test a built one")
	}
	bridgeBuild.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		root, err := repoRoot()
		if err != nil {
			bridgeBuild.err = err
			return
		}
		if reason := bridgeDoesNotBuild(ctx, root); reason != "" {
			bridgeBuild.skip = reason
			return
		}
		start := time.Now()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "build-image.sh"))
		// The script's docker CLI must use the engine the tests use, which
		// testcontainers may have found elsewhere than $DOCKER_HOST says.
		cmd.Env = append(os.Environ(), "IMAGE="+bridgeImageTag, "VERSION=integration-test", "DOCKER_HOST="+cli.DaemonHost())
		out, err := cmd.CombinedOutput()
		if err != nil {
			bridgeBuild.err = fmt.Errorf("scripts/build-image.sh: %w\n%s", err, lastLines(string(out), 30))
			return
		}
		t.Logf("%s (test run: %s)", lastLines(string(out), 1), time.Since(start).Round(time.Second))
	})
	if bridgeBuild.skip != "" {
		t.Skip(bridgeBuild.skip)
	}
	if bridgeBuild.err != nil {
		t.Fatalf("bridge image: %v", bridgeBuild.err)
	}
	return bridgeImageTag
}

// bridgeDoesNotBuild says why ./cmd/bridge cannot become an image yet, or
// "" when it is a main package that compiles.
func bridgeDoesNotBuild(ctx context.Context, root string) string {
	name, err := goCommand(ctx, root, nil, "list", "-f", "{{.Name}}", "./cmd/bridge")
	if err != nil {
		return "./cmd/bridge is not a package yet: " + err.Error()
	}
	if strings.TrimSpace(name) != "main" {
		return "./cmd/bridge is package " + strings.TrimSpace(name) + ", not main"
	}
	dir, err := os.MkdirTemp("", "scanbridge-bridge-")
	if err != nil {
		return "" // let the image build report it
	}
	defer os.RemoveAll(dir)
	if _, err := goCommand(ctx, root, []string{"CGO_ENABLED=0"}, "build", "-o", filepath.Join(dir, "bridge"), "./cmd/bridge"); err != nil {
		return "./cmd/bridge does not build yet, so its image is not tested: " + lastLines(err.Error(), 8)
	}
	return ""
}

// startBridge runs the bridge image as production does: in its own network
// namespace, listening on :8080 (published on the host), with the image's
// own HEALTHCHECK command but probing every quarter second instead of every
// 30 seconds. env is BRIDGE_* configuration. The container is removed with
// its /data volume when the test ends.
func startBridge(t *testing.T, image string, env map[string]string) (testcontainers.Container, string) {
	t.Helper()
	ctx := t.Context()
	c, err := testcontainers.Run(ctx, image,
		testcontainers.WithExposedPorts("8080/tcp"),
		testcontainers.WithEnv(env),
		testcontainers.WithConfigModifier(func(cfg *container.Config) {
			// No Test: the engine keeps the image's command and takes
			// only the timings from here.
			cfg.Healthcheck = &container.HealthConfig{Interval: 250 * time.Millisecond, Timeout: 5 * time.Second, Retries: 3}
		}),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort("8080/tcp").WithStartupTimeout(time.Minute)),
	)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		logs := ""
		if c != nil {
			logs = containerLogs(context.Background(), c)
		}
		t.Fatalf("start bridge (%s): %v\n%s", image, err, logs)
	}
	endpoint, err := c.PortEndpoint(ctx, "8080/tcp", "http")
	if err != nil {
		t.Fatalf("bridge endpoint: %v", err)
	}
	return c, endpoint
}

// TestBridgeImage starts the image built from the repository's Dockerfile
// on its own (embedded NATS, dry-run HSS) and checks what the Dockerfile
// promises: the unprivileged user, the JetStream store in the /data volume
// owned by that user, CA certificates, and a HEALTHCHECK that turns healthy.
func TestBridgeImage(t *testing.T) {
	t.Parallel()
	image := bridgeImage(t)
	cli := requireDocker(t)
	c, _ := startBridge(t, image, map[string]string{
		"BRIDGE_DRY_RUN":     "true",
		"BRIDGE_LOG__FORMAT": "text",
		// serve refuses to start without a receiver.
		"BRIDGE_RECEIVERS": `[{"name": "registry", "format": "distribution",
			"auth": {"method": "token", "prefix": "Bearer ", "secrets": ["` + randomToken(t) + `"]},
			"target": {"region": "cn-north-4", "project_id": "0123456789abcdef0123456789abcdef", "image_type": "private_image"}}]`,
	})
	id := c.GetContainerID()

	checks := []struct {
		name  string
		check func(ctx context.Context) error
	}{
		{
			name: "the bridge process runs as the unprivileged user",
			check: func(ctx context.Context) error {
				// The engine needs the pid column to map ps output to the container.
				top, err := cli.ContainerTop(ctx, id, client.ContainerTopOptions{Arguments: []string{"-o", "pid,uid,comm"}})
				if err != nil {
					return fmt.Errorf("top: %w", err)
				}
				uid := slices.Index(top.Titles, "UID")
				if uid < 0 || len(top.Processes) == 0 {
					return fmt.Errorf("no process or no UID column in %v %v", top.Titles, top.Processes)
				}
				for _, p := range top.Processes {
					if p[uid] != bridgeUser {
						return fmt.Errorf("process %v runs as uid %s, want %s", p, p[uid], bridgeUser)
					}
				}
				return nil
			},
		},
		{
			name: "the embedded JetStream store lives in the /data volume and belongs to that user",
			check: func(ctx context.Context) error {
				inspect, err := c.Inspect(ctx)
				if err != nil {
					return err
				}
				mounted := false
				for _, m := range inspect.Mounts {
					mounted = mounted || (m.Destination == "/data" && m.Type == "volume")
				}
				if !mounted {
					return fmt.Errorf("no volume at /data: %+v", inspect.Mounts)
				}
				entries, err := containerTree(ctx, cli, id, "/data")
				if err != nil {
					return err
				}
				hdr, ok := entries["data/nats/"]
				if !ok {
					return fmt.Errorf("no /data/nats in %v", keys(entries))
				}
				if uid := fmt.Sprint(hdr.Uid); uid != bridgeUser {
					return fmt.Errorf("/data/nats belongs to uid %s, want %s", uid, bridgeUser)
				}
				return nil
			},
		},
		{
			name: "the CA bundle for HTTPS calls to HSS is in the image",
			check: func(ctx context.Context) error {
				rc, err := c.CopyFileFromContainer(ctx, "/etc/ssl/certs/ca-certificates.crt")
				if err != nil {
					return err
				}
				defer rc.Close()
				b, err := io.ReadAll(rc)
				if err != nil {
					return err
				}
				if !bytes.Contains(b, []byte("-----BEGIN CERTIFICATE-----")) {
					return fmt.Errorf("ca-certificates.crt holds no certificate (%d bytes)", len(b))
				}
				return nil
			},
		},
		{
			name: "the image's HEALTHCHECK (bridge healthcheck) reports healthy",
			check: func(ctx context.Context) error {
				return waitHealthy(ctx, c)
			},
		},
	}
	for _, tc := range checks {
		ctx := ctxDeadline(t, time.Minute)
		if err := tc.check(ctx); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if t.Failed() {
		t.Logf("bridge logs:\n%s", containerLogs(context.Background(), c))
	}
}

// waitHealthy waits until the engine reports the container healthy, which
// takes the image's own HEALTHCHECK command succeeding.
func waitHealthy(ctx context.Context, c testcontainers.Container) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		inspect, err := c.Inspect(ctx)
		if err != nil {
			return err
		}
		h := inspect.State.Health
		if h != nil && h.Status == container.Healthy {
			return nil
		}
		select {
		case <-ctx.Done():
			if h == nil {
				return errors.New("the container has no health check")
			}
			var last string
			if n := len(h.Log); n > 0 {
				last = fmt.Sprintf("exit %d: %s", h.Log[n-1].ExitCode, h.Log[n-1].Output)
			}
			return fmt.Errorf("health %s after the deadline (last probe: %s)", h.Status, last)
		case <-tick.C:
		}
	}
}

// containerTree lists a folder of a container by name, with owners.
func containerTree(ctx context.Context, cli *testcontainers.DockerClient, id, path string) (map[string]*tar.Header, error) {
	res, err := cli.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, fmt.Errorf("copy %s from the container: %w", path, err)
	}
	defer res.Content.Close()
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(res.Content)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		entries[hdr.Name] = hdr
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
