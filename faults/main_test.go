//go:build linux

package faults

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

// longMode runs the long scenarios (100k backlog, long outage), which are
// skipped otherwise: SCANBRIDGE_FAULTS_LONG=1.
var longMode = os.Getenv("SCANBRIDGE_FAULTS_LONG") == "1"

// TestMain builds the real binary once, from the module root, into a
// temporary directory removed at the end (SCANBRIDGE_FAULTS_BIN names a
// binary to test instead, e.g. a release build), runs the scenarios and prints the
// figures table (also written to SCANBRIDGE_FAULTS_REPORT when set, since
// `go test ./...` shows nothing of a passing package).
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if testing.Short() {
		fmt.Println("faults: the fault suite runs the bridge binary; skipped with -short")
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "scanbridge-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := os.Getenv("SCANBRIDGE_FAULTS_BIN")
	if bin == "" {
		if bin, err = bridgeproc.Build(ctx, dir); err != nil {
			fmt.Fprintln(os.Stderr, "faults:", err)
			return 1
		}
	}
	bridgeBin = bin
	code := m.Run()
	table := figuresTable()
	if table != "" {
		fmt.Print("\nfault suite figures (lost must be 0):\n\n" + table)
		if path := os.Getenv("SCANBRIDGE_FAULTS_REPORT"); path != "" {
			if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "faults: write report:", err)
			}
		}
	}
	return code
}

// needBridge skips a scenario when TestMain built no binary (-short), and
// a long scenario unless the long mode is on.
func needBridge(t *testing.T, long bool) {
	t.Helper()
	if bridgeBin == "" {
		t.Skip("no bridge binary: the fault suite is skipped with -short")
	}
	if long && !longMode {
		t.Skip("long scenario: set SCANBRIDGE_FAULTS_LONG=1 (see docs/faults.md)")
	}
}
