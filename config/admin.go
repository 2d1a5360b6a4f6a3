package config

import (
	"fmt"
	"os"
	"strings"
)

// Tokens are the admin API's bearer tokens: admin.token and every line of
// admin.token_file. None leaves the admin API off.
func (c AdminConfig) Tokens() ([]string, error) {
	var out []string
	if t := strings.TrimSpace(c.Token); t != "" {
		out = append(out, t)
	}
	if c.TokenFile == "" {
		return out, nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("admin.token_file: %w", err)
	}
	n := len(out)
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if len(out) == n {
		// Meant to switch the admin API on; an empty file (a secret not
		// mounted yet) must not leave it silently off.
		return nil, fmt.Errorf("admin.token_file %s holds no token", c.TokenFile)
	}
	return out, nil
}
