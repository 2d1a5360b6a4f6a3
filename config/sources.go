package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/scan-bridge/scan-bridge/sources"
)

// sourceProblems checks the sources: each setting's tag (worded by
// rules.go), the target filled from the hss defaults as serve fills it
// (unless sweep_for, which takes the receiver's), the source's own checks
// (sources.Config.Check: url, auth and its files, globs), and across the
// configuration: names unique and apart from the receivers' (a source's
// name is its jobs' receiver, so sharing one would mix their job ids), and
// sweep_for naming a receiver.
func (c Config) sourceProblems() []string {
	var lines []string
	receivers := map[string]bool{}
	for _, r := range c.Receivers {
		receivers[r.Name] = true
	}
	names := map[string]int{}
	for i, s := range c.Sources {
		at := fmt.Sprintf("sources[%d]", i)
		var verrs validator.ValidationErrors
		if err := validate.StructExcept(s, "Target"); errors.As(err, &verrs) {
			for _, fe := range verrs {
				lines = append(lines, fieldProblem(at+"."+settingPath(fe.Namespace()), fe))
			}
		}
		if s.SweepFor == "" {
			if err := validate.Struct(c.HSS.FillTarget(s.Target)); errors.As(err, &verrs) {
				for _, fe := range verrs {
					lines = append(lines, fieldProblem(at+".target."+settingPath(fe.Namespace()), fe))
				}
			}
		}
		checked := s
		if s.Kind == sources.KindSWR {
			checked.SWR = c.fillSWR(s.SWR)
		}
		for _, e := range checked.Check() {
			lines = append(lines, at+"."+e.Error())
		}
		switch first, dup := names[s.Name]; {
		case dup:
			lines = append(lines, fmt.Sprintf("%s.name %q: defined twice (also sources[%d])", at, s.Name, first))
		case receivers[s.Name]:
			lines = append(lines, fmt.Sprintf("%s.name %q: a receiver has this name; a source beside that receiver's webhook sets sweep_for: %q and a name of its own", at, s.Name, s.Name))
		default:
			names[s.Name] = i
		}
		if s.SweepFor != "" && !receivers[s.SweepFor] {
			known := make([]string, 0, len(c.Receivers))
			for _, r := range c.Receivers {
				known = append(known, r.Name)
			}
			lines = append(lines, fmt.Sprintf("%s.sweep_for %q: no receiver has this name (receivers: %s)", at, s.SweepFor, strings.Join(known, ", ")))
		}
	}
	return lines
}

// FilledSources returns the sources with their defaults and each empty
// target field filled from the hss defaults, as FilledReceivers fills
// the receivers' (a sweep keeps none: its receiver's target applies).
func (c Config) FilledSources() []sources.Config {
	out := make([]sources.Config, len(c.Sources))
	for i, s := range c.Sources {
		if s.SweepFor == "" {
			s.Target = c.HSS.FillTarget(s.Target)
		}
		if s.Kind == sources.KindSWR {
			s.SWR = c.fillSWR(s.SWR)
		}
		out[i] = s.WithDefaults()
	}
	return out
}

// fillSWR gives a kind swr source the hss section's region and, when it
// names no access key of its own, the hss section's AK/SK (its files
// included); with none there either, the source reads the environment's
// HUAWEICLOUD_SDK_AK / _SK at each round, as hss does.
func (c Config) fillSWR(s sources.SWR) sources.SWR {
	if s.Region == "" && s.Endpoint == "" {
		s.Region = c.HSS.Region
	}
	switch {
	case s.AccessKey != "" || s.SecretKey != "" || s.SecretKeyFile != "":
		s.CredentialsFrom = "source"
	case c.HSS.AccessKey != "":
		s.AccessKey, s.SecretKey, s.SecretKeyFile = c.HSS.AccessKey, c.HSS.SecretKey, c.HSS.SecretKeyFile
		s.SecurityToken, s.SecurityTokenFile = c.HSS.SecurityToken, c.HSS.SecurityTokenFile
		s.CredentialsFrom = "hss"
	}
	return s
}
