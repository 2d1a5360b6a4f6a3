//go:build linux

package security

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/bridgeproc"
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
		if bin, err = bridgeproc.Build(ctx, dir); err != nil {
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

// needBridge skips a test when TestMain built no binary (-short).
func needBridge(t *testing.T) {
	t.Helper()
	if bridgeBin == "" {
		t.Skip("no bridge binary: the security suite is skipped with -short")
	}
}
