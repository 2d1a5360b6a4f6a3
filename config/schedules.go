package config

import (
	"errors"
	"fmt"

	"github.com/go-playground/validator/v10"

	"github.com/scan-bridge/scan-bridge/schedules"
)

// scheduleProblems checks the schedules: each setting's tag (worded by
// rules.go), the full scan's target filled from the hss defaults as serve
// fills it, the schedule's own checks (schedules.Config.Check: name, cron
// expression, timezone, the action's settings), and across the
// configuration: at most schedules.MaxSchedules, names unique, and a
// rescan's age below lifecycle.terminal_ttl (older finished records have
// expired, so the rescan would find nothing).
func (c Config) scheduleProblems() []string {
	var lines []string
	if n := len(c.Schedules); n > schedules.MaxSchedules {
		lines = append(lines, fmt.Sprintf("schedules: %d schedules, above the maximum %d", n, schedules.MaxSchedules))
	}
	names := map[string]int{}
	for i, s := range c.Schedules {
		at := fmt.Sprintf("schedules[%d]", i)
		var verrs validator.ValidationErrors
		if err := validate.StructExcept(s, "FullScan.Target"); errors.As(err, &verrs) {
			for _, fe := range verrs {
				lines = append(lines, fieldProblem(at+"."+settingPath(fe.Namespace()), fe))
			}
		}
		if s.Action == schedules.ActionFullScan {
			if err := validate.Struct(c.HSS.FillTarget(s.FullScan.Target)); errors.As(err, &verrs) {
				for _, fe := range verrs {
					lines = append(lines, fieldProblem(at+".full_scan.target."+settingPath(fe.Namespace()), fe))
				}
			}
		}
		for _, e := range s.Check() {
			lines = append(lines, at+"."+e.Error())
		}
		if first, dup := names[s.Name]; dup {
			lines = append(lines, fmt.Sprintf("%s.name %q: defined twice (also schedules[%d])", at, s.Name, first))
		} else {
			names[s.Name] = i
		}
		if ttl := c.Lifecycle.TerminalTTL; s.Action == schedules.ActionRescanOlderThan && ttl > 0 && s.Rescan.Age >= ttl {
			lines = append(lines, fmt.Sprintf("%s.rescan_older_than.age %s: finished images are kept only lifecycle.terminal_ttl (%s), so none is that old; "+
				"raise lifecycle.terminal_ttl above the age plus the time between fires, or lower the age",
				at, durationString(s.Rescan.Age), durationString(ttl)))
		}
	}
	return lines
}

// FilledSchedules returns the schedules with their defaults and each
// empty full-scan target field filled from the hss defaults.
func (c Config) FilledSchedules() []schedules.Config {
	out := make([]schedules.Config, len(c.Schedules))
	for i, s := range c.Schedules {
		if s.Action == schedules.ActionFullScan {
			s.FullScan.Target = c.HSS.FillTarget(s.FullScan.Target)
		}
		out[i] = s.WithDefaults()
	}
	return out
}
