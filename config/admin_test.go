package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAdminTokens(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const (
		t1  = "admin-token-one-0123456789abcdef" // 32 bytes
		t2  = "admin-token-two-0123456789abcdef" // 32 bytes
		bad = "admin-token-short-0123456789abc"  // 31 bytes
	)
	tests := []struct {
		name    string
		cfg     AdminConfig
		want    []string
		wantErr string // "" when the config must be accepted
	}{
		{"no token leaves the admin API off", AdminConfig{}, nil, ""},
		{"a blank token leaves it off", AdminConfig{Token: "  "}, nil, ""},
		{"the token, trimmed", AdminConfig{Token: " " + t1 + "\n"}, []string{t1}, ""},
		{"every line of the file, comments and blanks skipped", AdminConfig{TokenFile: file("two", "# rotation\n"+t2+"\n\n  "+t1+"  \n")}, []string{t2, t1}, ""},
		{"the token and the file together", AdminConfig{Token: t1, TokenFile: file("one", t2+"\n")}, []string{t1, t2}, ""},
		{"a file without a token is an error, not a disabled API", AdminConfig{TokenFile: file("empty", "# none yet\n")}, nil, "holds no token"},
		{"a missing file is an error", AdminConfig{TokenFile: filepath.Join(dir, "missing")}, nil, "admin.token_file"},
		{"a 31-byte token stops the start", AdminConfig{Token: bad}, nil, "admin.token: 31 bytes; at least 32 are required"},
		{"a short line of the file is named by its number and length", AdminConfig{TokenFile: file("short", "# rotation\n"+t1+"\n"+bad+"\n")},
			nil, "line 3: 31 bytes; at least 32 are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.Tokens()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) || !slices.Equal(got, tt.want) {
				t.Fatalf("tokens() = %q, %v; want %q (error %q)", got, err, tt.want, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), bad) {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
}
