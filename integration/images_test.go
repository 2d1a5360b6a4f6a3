package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Labels that tie a built image to what it was built from, so that a tag
// left by an older build (another version in go.mod, another engine
// architecture) is rebuilt rather than trusted.
const (
	labelVersion   = "org.opencontainers.image.version"
	labelBuiltFrom = "dev.scan-bridge.built-from"
)

// goImage is an image made of one static Go binary on an empty base: how
// the tests get third-party servers on an engine that cannot pull. The
// binary is compiled on the host (where the Go module cache and proxy are)
// for the engine's architecture and copied into a two-line Dockerfile.
type goImage struct {
	// tag is the image built, e.g. "scan-bridge/nats:local".
	tag string
	// override names an environment variable that, when set, holds an image
	// to use instead (an official one, where pulling works).
	override string
	// pkg is the main package; module the module that holds it.
	pkg, module string
	// version is the module version to build. Empty means the version this
	// repository's go.mod requires, built inside the module (go build);
	// otherwise the module is built on its own (go install pkg@version), so
	// its dependencies do not enter this repository's go.mod.
	version string
	// binary is the file name in the image and its entrypoint.
	binary string
	// cmd is the image's default arguments.
	cmd []string

	once sync.Once
	ref  string
	err  error
}

// ensure returns the image reference to run, building the image the first
// time a test in this process needs it and only when the tag is missing or
// stale. The build outlives the test that triggered it.
func (g *goImage) ensure(t *testing.T) string {
	t.Helper()
	cli := requireDocker(t)
	if ref := os.Getenv(g.override); ref != "" {
		return ref
	}
	g.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		start := time.Now()
		version, built, err := g.build(ctx, cli)
		g.ref, g.err = g.tag, err
		if built && err == nil {
			t.Logf("built %s (%s %s) in %s", g.tag, g.module, version, time.Since(start).Round(time.Second))
		}
	})
	if g.err != nil {
		t.Fatalf("image %s: %v", g.tag, g.err)
	}
	return g.ref
}

// resolveVersion is the module version the image must carry.
func (g *goImage) resolveVersion(ctx context.Context) (string, error) {
	if g.version != "" {
		return g.version, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	out, err := goCommand(ctx, root, nil, "list", "-m", "-f", "{{.Version}}", g.module)
	if err != nil {
		return "", fmt.Errorf("version of %s in go.mod: %w", g.module, err)
	}
	return strings.TrimSpace(out), nil
}

// build makes g.tag unless an image with that tag already carries the same
// module version for the engine's platform. It returns that version and
// whether it built.
func (g *goImage) build(ctx context.Context, cli *testcontainers.DockerClient) (version string, built bool, err error) {
	version, err = g.resolveVersion(ctx)
	if err != nil {
		return "", false, err
	}
	sv, err := cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return version, false, fmt.Errorf("engine version: %w", err)
	}
	source := g.module + " " + sv.Os + "/" + sv.Arch
	current, err := cli.ImageInspect(ctx, g.tag)
	switch {
	case err == nil && current.Config != nil &&
		current.Config.Labels[labelVersion] == version && current.Config.Labels[labelBuiltFrom] == source:
		return version, false, nil
	case err != nil && !cerrdefs.IsNotFound(err):
		return version, false, fmt.Errorf("inspect %s: %w", g.tag, err)
	}

	dir, err := os.MkdirTemp("", "scanbridge-image-")
	if err != nil {
		return version, false, err
	}
	defer os.RemoveAll(dir)
	bin, err := g.compile(ctx, dir, version, sv.Os, sv.Arch)
	if err != nil {
		return version, false, err
	}
	if err := buildImage(ctx, cli, g.tag, g.dockerfile(), g.binary, bin, map[string]string{
		labelVersion:   version,
		labelBuiltFrom: source,
	}); err != nil {
		return version, false, err
	}
	if current.ID != "" {
		// The stale image lost its tag; it is garbage unless a container
		// still uses it, and then removing it fails harmlessly.
		_, _ = cli.ImageRemove(ctx, current.ID, client.ImageRemoveOptions{})
	}
	return version, true, nil
}

// compile builds the static binary for goos/goarch into dir and returns its
// path.
func (g *goImage) compile(ctx context.Context, dir, version, goos, goarch string) (string, error) {
	env := []string{
		"CGO_ENABLED=0", "GOOS=" + goos, "GOARCH=" + goarch,
		"GOFLAGS=", "GOWORK=off", // the caller's flags (say -mod=vendor) must not change this build
	}
	flags := []string{"-trimpath", "-ldflags=-s -w"}
	if g.version == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		out := filepath.Join(dir, g.binary)
		args := append(append([]string{"build"}, flags...), "-o", out, g.pkg)
		if _, err := goCommand(ctx, root, env, args...); err != nil {
			return "", fmt.Errorf("compile %s: %w", g.pkg, err)
		}
		return out, nil
	}
	// go install refuses GOBIN for a cross build, so the binary goes to a
	// throwaway GOPATH: GOPATH/bin, or GOPATH/bin/GOOS_GOARCH when crossing.
	// GOMODCACHE stays the user's, so modules are not fetched again.
	modcache, err := goCommand(ctx, dir, nil, "env", "GOMODCACHE")
	if err != nil {
		return "", err
	}
	env = append(env, "GOPATH="+dir, "GOMODCACHE="+strings.TrimSpace(modcache), "GOBIN=")
	args := append(append([]string{"install"}, flags...), g.pkg+"@"+version)
	if _, err := goCommand(ctx, dir, env, args...); err != nil {
		return "", fmt.Errorf("compile %s@%s: %w", g.pkg, version, err)
	}
	for _, p := range []string{
		filepath.Join(dir, "bin", filepath.Base(g.pkg)),
		filepath.Join(dir, "bin", goos+"_"+goarch, filepath.Base(g.pkg)),
	} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("compile %s@%s: no binary under %s", g.pkg, version, filepath.Join(dir, "bin"))
}

func (g *goImage) dockerfile() string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM scratch\nCOPY %s /%s\n", g.binary, g.binary)
	entry, _ := json.Marshal([]string{"/" + g.binary})
	fmt.Fprintf(&b, "ENTRYPOINT %s\n", entry)
	if len(g.cmd) > 0 {
		cmd, _ := json.Marshal(g.cmd)
		fmt.Fprintf(&b, "CMD %s\n", cmd)
	}
	return b.String()
}

// goCommand runs the go command in dir with extra environment and returns
// its standard output; a failure carries its standard error.
func goCommand(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 20))
	}
	return stdout.String(), nil
}

// buildImage builds tag from a context holding dockerfile and the file at
// path under name, through the engine's API (the classic builder:
// no BuildKit session is needed, and none is available without buildx).
func buildImage(ctx context.Context, cli *testcontainers.DockerClient, tag, dockerfile, name, path string, labels map[string]string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeContext(pw, dockerfile, name, path)) }()
	res, err := cli.ImageBuild(ctx, pr, client.ImageBuildOptions{
		Tags:        []string{tag},
		Labels:      labels,
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("build %s: %w", tag, err)
	}
	defer res.Body.Close()
	var log strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var msg jsonstream.Message
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("build %s: read build output: %w", tag, err)
		}
		log.WriteString(msg.Stream)
		if msg.Error != nil {
			return fmt.Errorf("build %s: %s\n%s", tag, msg.Error.Message, lastLines(log.String(), 20))
		}
	}
}

// writeContext writes a tar build context: the Dockerfile and the file at
// path, named name.
func writeContext(w io.Writer, dockerfile, name, path string) error {
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: fi.Size()}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("write %s to the build context: %w", path, err)
	}
	return tw.Close()
}

// lastLines keeps the end of a long output for an error message.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
