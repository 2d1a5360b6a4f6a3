package config

import (
	"fmt"
	"os"
	"strings"
)

// minAdminToken is the shortest admin token accepted, in bytes. An admin
// token can redrive and purge every dead letter, and the admin listener
// may be reachable from a whole cluster: 32 bytes is what `openssl rand
// -hex 16` prints, beyond guessing, and twice the receivers' minimum
// secret (minSecretBytes in handlers/auth.go), since this one guards more.
const minAdminToken = 32

// Tokens are the admin API's bearer tokens: admin.token and every line of
// admin.token_file. None leaves the admin API off. A token shorter than
// minAdminToken stops the start; the error says where it is and how long,
// never what it is.
func (c AdminConfig) Tokens() ([]string, error) {
	var out []string
	if t := strings.TrimSpace(c.Token); t != "" {
		if len(t) < minAdminToken {
			return nil, fmt.Errorf("admin.token: %d bytes; at least %d are required", len(t), minAdminToken)
		}
		out = append(out, t)
	}
	if c.TokenFile == "" {
		return out, nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("admin.token_file: %w", err)
	}
	n, lineNo := len(out), 0
	for line := range strings.Lines(string(b)) {
		lineNo++
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < minAdminToken {
			return nil, fmt.Errorf("admin.token_file %s line %d: %d bytes; at least %d are required", c.TokenFile, lineNo, len(line), minAdminToken)
		}
		out = append(out, line)
	}
	if len(out) == n {
		// Meant to switch the admin API on; an empty file (a secret not
		// mounted yet) must not leave it silently off.
		return nil, fmt.Errorf("admin.token_file %s holds no token", c.TokenFile)
	}
	return out, nil
}
