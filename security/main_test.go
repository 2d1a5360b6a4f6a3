//go:build linux

package security

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bridgeBin is the bridge binary TestMain built for this run; empty when
// the suite is skipped (-short).
var bridgeBin string

// TestMain builds the real binary once, from the module root, into a
// temporary directory removed at the end (SCANBRIDGE_SECURITY_BIN names a
// binary to test instead, e.g. a release build), runs the attacks and
// prints the figures table (also written to SCANBRIDGE_SECURITY_REPORT
// when set, since `go test ./...` shows nothing of a passing package).
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if testing.Short() {
		fmt.Println("security: the attack suite runs the bridge binary; skipped with -short")
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "scanbridge-security-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "security: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := os.Getenv("SCANBRIDGE_SECURITY_BIN")
	if bin == "" {
		if bin, err = buildBridge(ctx, dir); err != nil {
			fmt.Fprintln(os.Stderr, "security:", err)
			return 1
		}
	}
	bridgeBin = bin
	code := m.Run()
	if table := figuresTable(); table != "" {
		fmt.Print("\nsecurity suite figures (peak RSS must stay within the limit):\n\n" + table)
		if path := os.Getenv("SCANBRIDGE_SECURITY_REPORT"); path != "" {
			if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "security: write report:", err)
			}
		}
	}
	return code
}

// buildBridge runs `go build -o <dir>/bridge ./cmd/bridge` in the module
// root, found with `go env GOMOD` so the suite works from any directory.
func buildBridge(ctx context.Context, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("find the go command: %w", err)
	}
	out, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside the module")
	}
	bin := filepath.Join(dir, "bridge")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/bridge")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/bridge: %w\n%s", err, out)
	}
	return bin, nil
}

// needBridge skips a test when TestMain built no binary (-short).
func needBridge(t *testing.T) {
	t.Helper()
	if bridgeBin == "" {
		t.Skip("no bridge binary: the security suite is skipped with -short")
	}
}
