package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

// commit is set at build time with -ldflags "-X main.commit=...", like
// version (the Dockerfile does, from scripts/build-image.sh). Empty: the
// revision the go command stamps into a binary built in a git work tree,
// if any.
var commit = ""

// build says which bridge this is: in bridge version, and on /metrics as
// scanbridge_build_info, so a dashboard shows which build each replica
// runs during a rollout.
type build struct {
	Version, Commit, GoVersion string
}

// currentBuild reads the -ldflags values, falling back to the build
// information the go command records (a module version for go install
// ...@v1.2.3; the VCS revision, "-dirty" when the tree had changes).
func currentBuild() build {
	b := build{Version: version, Commit: commit, GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b.orUnknown()
	}
	if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	if b.Commit == "" {
		var dirty bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if b.Commit != "" && dirty {
			b.Commit += "-dirty"
		}
	}
	return b.orUnknown()
}

func (b build) orUnknown() build {
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the bridge's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := currentBuild()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "version: %s\ncommit:  %s\ngo:      %s\n", b.Version, b.Commit, b.GoVersion)
			return err
		},
	}
}

// registerBuildInfo adds scanbridge_build_info{version,commit,goversion} 1,
// the Prometheus convention for the build of a process.
func registerBuildInfo(reg prometheus.Registerer) {
	b := currentBuild()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scanbridge_build_info",
		Help: "The bridge's build: version, commit and Go version; always 1."}, []string{"version", "commit", "goversion"})
	g.WithLabelValues(b.Version, b.Commit, b.GoVersion).Set(1)
	reg.MustRegister(g)
}
