// Command bridge turns container-registry push webhooks into Huawei Cloud
// HSS image scans: it receives and checks webhooks, stores each job on NATS
// JetStream, and batches the jobs into rate-limited HSS batch-scan calls.
//
// This package is the only one that knows every part: it reads the
// configuration and wires handlers, queue and scanner (the HSS side)
// together.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/scan-bridge/scan-bridge/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRootCmd(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
		os.Exit(1)
	}
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "bridge",
		Short:         "Turn registry push webhooks into Huawei Cloud HSS image scans",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       currentBuild().Version,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServeCmd(), newScanCmd(), newHealthcheckCmd(), newRouteCmd())
	root.AddCommand(newDLQCmd(), newStatusCmd())
	root.AddCommand(newConfigCmd(), newVersionCmd())
	root.AddCommand(newSourcesCmd(), newSchedulesCmd())
	return root
}

// newLogger builds the process logger from the log settings.
func newLogger(w io.Writer, c config.LogConfig) *slog.Logger {
	log, _ := newLevelLogger(w, c)
	return log
}

// loadConfig is shared by the subcommands: file, environment, then the
// flags the command set (override), then every check.
func loadConfig(path string, override func(*config.Config)) (config.Config, error) {
	return config.LoadChecked(path, os.Environ, override)
}
