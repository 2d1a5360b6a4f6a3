package config

import (
	"reflect"
	"slices"
	"strings"
)

// reloadable are the settings a running bridge applies when it reloads
// its configuration (SIGHUP or a changed secret file, see
// cmd/bridge/reload.go and docs/operations.md): what the webhook server
// reads per request (handlers.Server.Reload), the log level, and the
// admin API's tokens (admin.Tokens.Set; switching the admin API on or off
// still takes a restart, which cmd/bridge/reload.go says). Every other
// setting is read once, when a part starts (a listener, the NATS
// connection, the stream, the HSS client and its credentials), and takes
// a restart.
var reloadable = map[string]bool{
	"receivers":            true,
	"routes":               true,
	"log.level":            true,
	"http.max_body_bytes":  true,
	"http.publish_timeout": true,
	"admin.token":          true,
	"admin.token_file":     true,
}

// Reloadable lists the settings a reload applies, sorted, for messages
// and documentation.
func Reloadable() []string {
	out := make([]string, 0, len(reloadable))
	for k := range reloadable {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// RestartNeeded compares c, the configuration a bridge runs with, to
// next and returns one line per setting that differs and that only a
// restart applies, in the order of the settings, worded for the
// operator: "nats.url changed: restart the bridge to apply". Values are
// not shown: some are secrets. None means a reload can apply next whole.
//
// Why refuse rather than apply the rest: an operator who changed nats.url
// and sent SIGHUP would otherwise believe the bridge uses the new server;
// a refused reload keeps the configuration that runs and the one on disk
// visibly apart (scanbridge_config_last_reload_successful is 0) until the
// restart.
func (c Config) RestartNeeded(next Config) []string {
	flagged := map[string]bool{}
	changed(schema(), "", reflect.ValueOf(c), reflect.ValueOf(next), flagged)
	var lines []string
	walkLeaves(schema(), func(n *node) {
		if flagged[n.path] && !reloadable[n.path] {
			lines = append(lines, n.path+" changed: restart the bridge to apply")
		}
	})
	return lines
}

// walkLeaves calls f on each setting below n that is not a struct (a
// list counts as one setting), in declaration order.
func walkLeaves(n *node, f func(*node)) {
	for _, c := range n.fields {
		if c.isStruct() {
			walkLeaves(c, f)
			continue
		}
		if !strings.Contains(c.path, "[]") {
			f(c)
		}
	}
}
