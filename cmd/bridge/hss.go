package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/scanner"
)

// newHSS builds the HSS side of the bridge (package scanner) from the
// configuration, for serve and for scan alike.
func newHSS(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*scanner.HSS, error) {
	return scanner.NewHSS(cfg.HSS, scanner.Options{DryRun: cfg.DryRun, Registry: reg, Logger: log,
		UserAgent: "scan-bridge/" + version})
}
