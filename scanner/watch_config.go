package scanner

import (
	"errors"
	"fmt"
	"time"
)

// WatchConfig is hss.watch: how the bridge follows a requested scan to its
// result (Watcher).
type WatchConfig struct {
	// Enabled runs the watcher on the replica holding the watch lease.
	// Off, an image's lifecycle stops at scan_requested.
	Enabled bool `koanf:"enabled"`
	// Interval is the least time between two polling rounds. 0 (the
	// default) polls at the pace of the list API's budget: one permit at
	// watch priority, which the push path's presence checks take first.
	Interval time.Duration `koanf:"interval" validate:"min=0"`
	// RescanAfter is how long a scan may show no sign at HSS (neither
	// scanning nor a result newer than the request) before its job is
	// sent again: a batch-scan answered 200 may have scanned nothing.
	RescanAfter time.Duration `koanf:"rescan_after" validate:"min=60000000000"`
	// ScanTimeout is how long after the first scan request an image is
	// given up (scan_timeout) when no result came.
	ScanTimeout time.Duration `koanf:"scan_timeout" validate:"min=60000000000"`
	// Skew widens the scan-time window of each poll backwards, for HSS's
	// clock being behind ours: start_latest_scan_time is the oldest
	// watched request minus Skew.
	Skew time.Duration `koanf:"skew" validate:"min=0"`
	// PageLimit is the list API's page size (its limit: 10 to 200).
	PageLimit int `koanf:"page_limit" validate:"min=10,max=200"`
	// MaxPages bounds the pages one round reads per target and image type;
	// the next round goes on from there.
	MaxPages int `koanf:"max_pages" validate:"min=1,max=100"`
	// LeaseTTL is how long a watcher that stopped renewing its lease holds
	// it before another replica takes over (Lease).
	LeaseTTL time.Duration `koanf:"lease_ttl" validate:"min=2000000000"`
	// LeaseKey is the lease's key in the hss.limit_kv bucket.
	LeaseKey string `koanf:"lease_key" validate:"min=1,max=128"`
}

// Watch defaults.
const (
	DefaultWatchRescanAfter = 10 * time.Minute
	DefaultWatchScanTimeout = 2 * time.Hour
	DefaultWatchSkew        = 2 * time.Minute
	DefaultWatchPageLimit   = 200
	DefaultWatchMaxPages    = 5
	DefaultWatchLeaseTTL    = 30 * time.Second
	DefaultWatchLeaseKey    = "hss_watch_lease"
)

// DefaultWatchConfig holds the documented defaults of hss.watch.
func DefaultWatchConfig() WatchConfig {
	return WatchConfig{
		Enabled:     true,
		RescanAfter: DefaultWatchRescanAfter,
		ScanTimeout: DefaultWatchScanTimeout,
		Skew:        DefaultWatchSkew,
		PageLimit:   DefaultWatchPageLimit,
		MaxPages:    DefaultWatchMaxPages,
		LeaseTTL:    DefaultWatchLeaseTTL,
		LeaseKey:    DefaultWatchLeaseKey,
	}
}

// Check reports what the field rules cannot: how the settings relate.
func (c WatchConfig) Check() error {
	var errs []error
	if c.ScanTimeout <= c.RescanAfter {
		errs = append(errs, fmt.Errorf("hss.watch.scan_timeout: %s must be longer than hss.watch.rescan_after (%s)", c.ScanTimeout, c.RescanAfter))
	}
	return errors.Join(errs...)
}
