package schedules

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	_ "time/tzdata" // the image is FROM scratch: zone names must resolve without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// Actions of a schedule.
const (
	// ActionFullScan asks HSS for one operate_all batch-scan with the
	// schedule's filters.
	ActionFullScan = "full_scan"
	// ActionRescanOlderThan sends again the jobs of the images whose last
	// finished scan is older than rescan_older_than.age.
	ActionRescanOlderThan = "rescan_older_than"
)

// Bounds and defaults.
const (
	// MaxSchedules bounds the schedules: each runs a clock on every
	// replica, and each fire writes a claim.
	MaxSchedules = 32
	// DefaultRescanLimit and MaxRescanLimit bound the jobs one rescan
	// sends.
	DefaultRescanLimit = 10000
	MaxRescanLimit     = 100000
	// DefaultTimeout bounds one run: the full scan's wait for its permit
	// and its call, or the rescan's reading and sending.
	DefaultTimeout = 15 * time.Minute
)

// Config is one schedule.
type Config struct {
	// Name names the schedule in metrics, keys, logs and the jobs' request
	// ids; 1-64 letters, digits, '-' or '_'.
	Name string `koanf:"name" json:"name"`
	// Cron is when it fires: five fields (minute hour day-of-month month
	// day-of-week) or a descriptor (@hourly, @daily, @midnight, @weekly,
	// @monthly, @yearly), in Timezone.
	Cron string `koanf:"cron" json:"cron"`
	// Timezone is an IANA zone name (Europe/Berlin, Asia/Shanghai).
	// Default UTC.
	Timezone string `koanf:"timezone" json:"timezone,omitempty"`
	// Action is full_scan or rescan_older_than.
	Action string `koanf:"action" json:"action" validate:"required,oneof=full_scan rescan_older_than"`
	// CatchUp runs the latest fire missed while no replica ran, once,
	// when a replica notices. Default off: a missed fire is skipped.
	CatchUp bool `koanf:"catch_up" json:"catch_up,omitempty"`
	// Timeout bounds one run. Default 15m.
	Timeout time.Duration `koanf:"timeout" json:"timeout,omitempty" validate:"omitempty,min=1m"`
	// FullScan is the full_scan action's target and filters.
	FullScan FullScan `koanf:"full_scan" json:"full_scan,omitzero"`
	// Rescan is the rescan_older_than action's settings.
	Rescan Rescan `koanf:"rescan_older_than" json:"rescan_older_than,omitzero"`
}

// FullScan is an operate_all batch-scan: the target (empty fields take
// the hss defaults) and the API reference's filters. The reference's time
// windows (start_/end_latest_*_time) are left out: its bound on them
// (2147483547) cannot hold the millisecond times they are.
type FullScan struct {
	Target       scanjob.Target `koanf:"target" json:"target,omitzero"`
	Namespace    string         `koanf:"namespace" json:"namespace,omitempty" validate:"omitempty,max=256"`
	ImageName    string         `koanf:"image_name" json:"image_name,omitempty" validate:"omitempty,max=256"`
	ImageVersion string         `koanf:"image_version" json:"image_version,omitempty" validate:"omitempty,max=256"`
	ScanStatus   string         `koanf:"scan_status" json:"scan_status,omitempty" validate:"omitempty,oneof=unscan success scanning failed download_failed image_oversized"`
	// LatestVersion: the latest version of each image only (sent when
	// true; HSS's default is false).
	LatestVersion bool `koanf:"latest_version" json:"latest_version,omitempty"`
	// ImageSize is the reference's image_size filter (sent when above 0;
	// the reference does not say what it matches).
	ImageSize int64 `koanf:"image_size" json:"image_size,omitempty" validate:"omitempty,min=0,max=2147483547"`
}

// Rescan selects the images to scan again.
type Rescan struct {
	// Age: an image whose last finished scan (HSS's latest_scan_time,
	// else when its record finished) is older is sent again.
	Age time.Duration `koanf:"age" json:"age,omitempty" validate:"omitempty,min=1h"`
	// Namespaces limits the images to namespaces matching one of these
	// path.Match globs; none: every namespace.
	Namespaces []string `koanf:"namespaces" json:"namespaces,omitempty"`
	// Limit bounds the jobs one run sends, the oldest scans first.
	// Default 10000, at most 100000.
	Limit int `koanf:"limit" json:"limit,omitempty" validate:"omitempty,min=1,max=100000"`
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.Timezone == "" {
		c.Timezone = "UTC"
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Action == ActionRescanOlderThan && c.Rescan.Limit == 0 {
		c.Rescan.Limit = DefaultRescanLimit
	}
	return c
}

var scheduleName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Check reports what the validate tags cannot say, one error per
// problem, each starting with the setting inside the schedule ("cron
// ...: ..."). The full scan's target is checked by the caller (it takes
// the hss defaults first).
func (c Config) Check() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !scheduleName.MatchString(c.Name) {
		bad("name %q: use 1-64 letters, digits, '-' or '_'", c.Name)
	}
	if _, err := ParseCron(c.Cron); err != nil {
		bad("cron %q: %v", c.Cron, err)
	}
	if _, err := loadLocation(c.Timezone); err != nil {
		bad("timezone %q: %v", c.Timezone, err)
	}
	switch c.Action {
	case ActionFullScan:
		if c.Rescan.Age != 0 || len(c.Rescan.Namespaces) > 0 || c.Rescan.Limit != 0 {
			bad("rescan_older_than: not used by action full_scan; remove it")
		}
	case ActionRescanOlderThan:
		if c.FullScan != (FullScan{}) {
			bad("full_scan: not used by action rescan_older_than; remove it")
		}
		if c.Rescan.Age == 0 {
			bad("rescan_older_than.age: is required for action rescan_older_than, e.g. 720h (30 days)")
		}
		for i, g := range c.Rescan.Namespaces {
			if _, err := path.Match(g, ""); err != nil || g == "" || strings.Contains(g, "/") {
				bad("rescan_older_than.namespaces[%d] %q: not a namespace glob (path.Match syntax, no '/')", i, g)
			}
		}
	}
	return errs
}

// ParseCron parses a schedule's cron setting: five fields or a
// descriptor. It refuses @every (its fires count from when each replica
// started, so replicas would not agree on them and each would run its
// own) and a CRON_TZ= or TZ= prefix (the timezone setting says it).
func ParseCron(spec string) (cron.Schedule, error) {
	s := strings.TrimSpace(spec)
	switch {
	case s == "":
		return nil, errors.New("is required: five fields (minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\") or @daily, @hourly, @weekly, @monthly")
	case strings.HasPrefix(s, "@every"):
		return nil, errors.New("@every is not supported: its fires depend on when each replica started; use five fields, e.g. \"0 */6 * * *\" for every 6 hours")
	case strings.HasPrefix(s, "CRON_TZ=") || strings.HasPrefix(s, "TZ="):
		return nil, errors.New("set the zone with the schedule's timezone setting, not in the expression")
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("not a cron expression (five fields: minute hour day-of-month month day-of-week, or @daily ...): %w", err)
	}
	return sched, nil
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if strings.EqualFold(name, "local") {
		return nil, errors.New("name the zone (e.g. Europe/Berlin), so every replica agrees")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("not an IANA time zone name (e.g. UTC, Europe/Berlin): %w", err)
	}
	return loc, nil
}
