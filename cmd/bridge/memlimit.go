package main

import (
	"log/slog"
	"math"
	"os"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memoryLimitRatio is the share of the container's memory limit given to
// the Go runtime as its soft limit. The rest is for what the runtime does
// not count (stacks in flight, the kernel's socket buffers) and for the
// time the collector needs to catch up; 90 % is the library's default and
// what the Helm chart sets (deploy/helm/scan-bridge/templates/_helpers.tpl).
const memoryLimitRatio = 0.9

// setMemoryLimit sets the Go runtime's soft memory limit to
// memoryLimitRatio of the cgroup's memory limit, so that the collector
// works harder as the bridge nears its container's limit instead of the
// kernel killing it there. An explicit GOMEMLIMIT wins (the library leaves
// it alone, as it does with AUTOMEMLIMIT=off); without a cgroup limit
// nothing is set. It logs the limit in force, and only warns when the
// cgroup cannot be read: the bridge then runs without a limit.
func setMemoryLimit(log *slog.Logger) {
	limit, err := memlimit.Set(memlimit.WithRatio(memoryLimitRatio), memlimit.WithProvider(memlimit.FromCgroup))
	if err != nil {
		log.Warn("memory limit not set: the cgroup's limit could not be read", "error", err)
		return
	}
	source := "cgroup"
	switch {
	case os.Getenv("GOMEMLIMIT") != "":
		source = "GOMEMLIMIT"
	case limit == math.MaxInt64:
		log.Info("no memory limit: neither the cgroup nor GOMEMLIMIT sets one")
		return
	}
	log.Info("memory limit", "go_memory_limit_bytes", limit, "source", source)
}
