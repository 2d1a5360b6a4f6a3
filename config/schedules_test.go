package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestSchedulesInTheUsersTerms(t *testing.T) {
	t.Setenv("HUAWEICLOUD_SDK_PROJECT_ID", "")
	many := "schedules:\n"
	for i := range 33 {
		many += "  - {name: s" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + ", cron: '@daily', action: full_scan}\n"
	}
	tests := []struct {
		name string
		file string
		env  []string
		want string // the whole error after "invalid configuration, N problem(s):\n"
	}{
		{"a cron expression that is not one",
			okHSS + okReceivers + "schedules:\n  - {name: nightly, cron: '0 3 * *', action: full_scan}\n", nil,
			`schedules[0].cron "0 3 * *": not a cron expression (five fields: minute hour day-of-month month day-of-week, or @daily ...): expected exactly 5 fields, found 4: [0 3 * *]`},
		{"@every",
			okHSS + okReceivers + "schedules:\n  - {name: nightly, cron: '@every 6h', action: full_scan}\n", nil,
			`schedules[0].cron "@every 6h": @every is not supported: its fires depend on when each replica started; use five fields, e.g. "0 */6 * * *" for every 6 hours`},
		{"an unknown action",
			okHSS + okReceivers + "schedules:\n  - {name: nightly, cron: '@daily', action: rescan}\n", nil,
			`schedules[0].action: "rescan" is not one of full_scan, rescan_older_than`},
		{"an unknown zone",
			okHSS + okReceivers + "schedules:\n  - {name: nightly, cron: '@daily', timezone: Europe/Atlantis, action: full_scan}\n", nil,
			`schedules[0].timezone "Europe/Atlantis": not an IANA time zone name (e.g. UTC, Europe/Berlin): unknown time zone Europe/Atlantis`},
		{"a typo inside a schedule",
			okHSS + okReceivers + "schedules:\n  - {name: nightly, cron: '@daily', action: full_scan, full_scan: {namespaces: a}}\n", nil,
			"schedules[0].full_scan.namespaces: unknown setting; did you mean schedules[0].full_scan.namespace?"},
		{"a bad scan status",
			okHSS + okReceivers + "schedules:\n  - {name: nightly, cron: '@daily', action: full_scan, full_scan: {scan_status: done}}\n", nil,
			`schedules[0].full_scan.scan_status: "done" is not one of unscan, success, scanning, failed, download_failed, image_oversized`},
		{"a rescan older than the records live",
			okHSS + okReceivers + "schedules:\n  - {name: old, cron: '@daily', action: rescan_older_than, rescan_older_than: {age: 720h}}\n", nil,
			"schedules[0].rescan_older_than.age 720h: finished images are kept only lifecycle.terminal_ttl (168h), so none is that old; raise lifecycle.terminal_ttl above the age plus the time between fires, or lower the age"},
		{"a limit above the maximum",
			okHSS + okReceivers + "schedules:\n  - {name: old, cron: '@daily', action: rescan_older_than, rescan_older_than: {age: 72h, limit: 200000}}\n", nil,
			"schedules[0].rescan_older_than.limit: 200000 is above the maximum 100000"},
		{"two of one name",
			okHSS + okReceivers + "schedules:\n  - {name: n, cron: '@daily', action: full_scan}\n  - {name: n, cron: '@hourly', action: full_scan}\n", nil,
			`schedules[1].name "n": defined twice (also schedules[0])`},
		{"too many", okHSS + okReceivers + many, nil, "schedules: 33 schedules, above the maximum 32"},
		{"from BRIDGE_SCHEDULES",
			okHSS + okReceivers, []string{`BRIDGE_SCHEDULES=[{"name":"n","cron":"0 25 * * *","action":"full_scan"}]`},
			`schedules[0].cron "0 25 * * *": not a cron expression (five fields: minute hour day-of-month month day-of-week, or @daily ...): end of range (25) above maximum (23): 25`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadChecked(writeFile(t, tt.file), func() []string { return tt.env }, nil)
			if err == nil {
				t.Fatal("no error")
			}
			_, got, _ := strings.Cut(err.Error(), ":\n")
			if got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestSchedulesFilled(t *testing.T) {
	file := okHSS + okReceivers + `lifecycle: {terminal_ttl: 1080h}
schedules:
  - name: nightly
    cron: "0 3 * * *"
    action: full_scan
    full_scan: {scan_status: unscan, latest_version: true}
  - name: monthly
    cron: "@daily"
    timezone: Asia/Shanghai
    action: rescan_older_than
    catch_up: true
    rescan_older_than: {age: 720h, namespaces: ["team-*"]}
`
	cfg, err := LoadChecked(writeFile(t, file), func() []string { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.FilledSchedules()
	if s[0].FullScan.Target.ProjectID != "p1" || s[0].FullScan.Target.ImageType != "private_image" || s[0].Timezone != "UTC" ||
		!s[0].FullScan.LatestVersion || s[0].Timeout != 15*time.Minute {
		t.Errorf("filled %+v", s[0])
	}
	if s[1].Rescan.Limit != 10000 || s[1].Rescan.Age != 720*time.Hour || !s[1].CatchUp || s[1].FullScan.Target.ProjectID != "" {
		t.Errorf("filled %+v", s[1])
	}
	next := cfg
	next.Schedules = nil
	if lines := cfg.RestartNeeded(next); len(lines) != 1 || lines[0] != "schedules changed: restart the bridge to apply" {
		t.Fatalf("RestartNeeded = %v", lines)
	}
}

// TestSchedulesDocExampleIsValid loads the example of docs/schedules.md.
func TestSchedulesDocExampleIsValid(t *testing.T) {
	doc, err := os.ReadFile("../docs/schedules.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Example\n\n```yaml\n")
	if !ok {
		t.Fatal("docs/schedules.md has no example")
	}
	example, _, _ := strings.Cut(rest, "```")
	cfg, err := LoadChecked(writeFile(t, okHSS+okReceivers+example), func() []string { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Schedules) < 2 {
		t.Fatalf("schedules %+v", cfg.Schedules)
	}
}
