package config

import (
	"fmt"
	"slices"
	"strconv"
)

// notifyProblems checks the notify section with notify's own checks
// (each line starts with the setting: "notify.webhooks[0].url: ...";
// the list's variable is BRIDGE_NOTIFY__WEBHOOKS), and that every
// receiver a webhook matches on is configured: a misspelt name would
// match nothing, silently.
func (c Config) notifyProblems() []string {
	var lines []string
	for _, e := range split(c.Notify.Validate()) {
		lines = append(lines, annotate("", e.Error()))
	}
	names := make([]string, len(c.Receivers))
	for i, r := range c.Receivers {
		names[i] = r.Name
	}
	for i, w := range c.Notify.Webhooks {
		for j, r := range w.Match.Receivers {
			if r != "" && !slices.Contains(names, r) {
				lines = append(lines, fmt.Sprintf("notify.webhooks[%d].match.receivers[%d]: %s is no receiver's name", i, j, strconv.Quote(r)))
			}
		}
	}
	return lines
}
