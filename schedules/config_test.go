package schedules

import (
	"strings"
	"testing"
	"time"
)

func TestCronErrorsSayWhatToWrite(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		{"", "is required: five fields"},
		{"0 3 * *", "not a cron expression (five fields"},
		{"0 3 * * * *", "not a cron expression"},
		{"61 * * * *", "not a cron expression"},
		{"@every 1h", "@every is not supported"},
		{"CRON_TZ=Europe/Berlin 0 3 * * *", "set the zone with the schedule's timezone setting"},
		{"@fortnightly", "not a cron expression"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := ParseCron(tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseCron(%q) = %v, want %q", tt.spec, err, tt.want)
			}
		})
	}
	for _, ok := range []string{"0 3 * * *", "*/15 * * * *", "0 2 * * 1-5", "@daily", "@hourly", "@weekly", "@monthly", "@midnight"} {
		if _, err := ParseCron(ok); err != nil {
			t.Errorf("ParseCron(%q): %v", ok, err)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want []string
	}{
		{"ok full scan", Config{Name: "nightly", Cron: "0 3 * * *", Action: ActionFullScan}, nil},
		{"ok rescan", Config{Name: "old", Cron: "@daily", Action: ActionRescanOlderThan, Rescan: Rescan{Age: 720 * time.Hour, Namespaces: []string{"team-*"}}}, nil},
		{"bad name, cron and zone", Config{Name: "a.b", Cron: "0 3 * *", Timezone: "Mars/Olympus", Action: ActionFullScan}, []string{
			`name "a.b": use 1-64 letters`, `cron "0 3 * *": not a cron expression`, `timezone "Mars/Olympus": not an IANA time zone name`}},
		{"local zone", Config{Name: "x", Cron: "@daily", Timezone: "Local", Action: ActionFullScan}, []string{`timezone "Local": name the zone`}},
		{"rescan without age", Config{Name: "x", Cron: "@daily", Action: ActionRescanOlderThan}, []string{"rescan_older_than.age: is required"}},
		{"rescan with full scan filters", Config{Name: "x", Cron: "@daily", Action: ActionRescanOlderThan, Rescan: Rescan{Age: time.Hour},
			FullScan: FullScan{Namespace: "a"}}, []string{"full_scan: not used by action rescan_older_than"}},
		{"full scan with rescan settings", Config{Name: "x", Cron: "@daily", Action: ActionFullScan, Rescan: Rescan{Limit: 5}},
			[]string{"rescan_older_than: not used by action full_scan"}},
		{"bad glob", Config{Name: "x", Cron: "@daily", Action: ActionRescanOlderThan, Rescan: Rescan{Age: time.Hour, Namespaces: []string{"[", "a/b"}}},
			[]string{`rescan_older_than.namespaces[0] "["`, `rescan_older_than.namespaces[1] "a/b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.c.Check()
			if len(errs) != len(tt.want) {
				t.Fatalf("Check() = %v, want %d problems %q", errs, len(tt.want), tt.want)
			}
			for i, e := range errs {
				if !strings.HasPrefix(e.Error(), tt.want[i]) {
					t.Errorf("problem %d = %q, want it to start %q", i, e, tt.want[i])
				}
			}
		})
	}
}

func TestNextAndPrevInTheSchedulesZone(t *testing.T) {
	s, err := New(Config{Name: "x", Cron: "0 3 * * *", Timezone: "Asia/Shanghai", Action: ActionFullScan},
		Deps{KV: noKV{}, Scanner: sendFunc(nil)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC) // 20:00 in Shanghai
	if got, want := s.Next(now), time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next = %s, want %s", got.UTC(), want)
	}
	if got, want := s.Prev(now), time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Prev = %s, want %s", got.UTC(), want)
	}
	if got := s.Prev(time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)) {
		t.Errorf("Prev of a fire time = %s, want itself", got.UTC())
	}
	m, _ := New(Config{Name: "m", Cron: "* * * 1 *", Action: ActionFullScan}, Deps{KV: noKV{}, Scanner: sendFunc(nil)})
	if got, want := m.Prev(now), time.Date(2026, 1, 31, 23, 59, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Prev of a January-only schedule in December = %s, want %s", got, want)
	}
}

// FuzzParseCron: any text is refused or parsed into a clock whose next
// fire is after the time asked, and Prev never lies after it.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"0 3 * * *", "*/7 1-5 * 2,4 MON-FRI", "@daily", "@every 1h", "", "a b c d e", "0 0 31 2 *"} {
		f.Add(s)
	}
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		c, err := NewClock(Config{Name: "f", Cron: spec})
		if err != nil {
			return
		}
		if n := c.Next(at); !n.IsZero() && !n.After(at) {
			t.Fatalf("%q: Next(%s) = %s", spec, at, n)
		}
		if p := c.Prev(at); !p.IsZero() && p.After(at) {
			t.Fatalf("%q: Prev(%s) = %s", spec, at, p)
		}
	})
}
