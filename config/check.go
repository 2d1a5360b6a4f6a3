package config

import (
	"fmt"
	"strings"
)

// Check is bridge config check: LoadChecked, plus what only a bridge that
// serves needs (at least one receiver; the NATS files it reads at start:
// nats.creds_file, nats.password_file, nats.listen_password_file, a data
// dir it can write), plus extra, the checks of parts this package does
// not build (cmd/bridge passes the HSS credentials). It starts nothing
// and changes nothing; every problem is one line of the one error.
func Check(path string, environ func() []string, override func(*Config), extra ...func(Config) error) (Config, error) {
	l, err := read(path, environ)
	if err != nil {
		return Config{}, err
	}
	if override != nil {
		override(&l.cfg)
	}
	c := l.cfg
	lines := append(l.problems, c.problems()...)
	if len(c.Receivers) == 0 {
		lines = append(lines, "receivers (BRIDGE_RECEIVERS): none configured; bridge serve needs at least one (see README)")
	}
	for _, e := range split(c.NATS.Config.CheckFiles()) {
		lines = append(lines, annotate("", e.Error()))
	}
	for _, f := range extra {
		for _, e := range split(f(c)) {
			// One line each: a multi-line message is the error of one
			// check, joined.
			lines = append(lines, strings.ReplaceAll(e.Error(), "\n", "; "))
		}
	}
	if len(lines) > 0 {
		return Config{}, invalid(lines)
	}
	return c, nil
}

// Summary is one line about a checked configuration, for bridge config
// check to print.
func (c Config) Summary() string {
	nats := "embedded NATS in " + c.NATS.DataDir
	if !c.NATS.Embedded() {
		nats = "NATS at " + redactURLs(c.NATS.URL)
	}
	mode := "HSS"
	if c.DryRun {
		mode = "the HSS simulator (dry run)"
	}
	return fmt.Sprintf("configuration OK: %d receivers, %d routes, %s, %s, listening on %s",
		len(c.Receivers), len(c.Routes), nats, mode, c.HTTP.Listen)
}
