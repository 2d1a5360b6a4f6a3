package config

import (
	"os"
	"path/filepath"
	"slices"
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
	tests := []struct {
		name    string
		cfg     AdminConfig
		want    []string
		wantErr bool
	}{
		{"no token leaves the admin API off", AdminConfig{}, nil, false},
		{"a blank token leaves it off", AdminConfig{Token: "  "}, nil, false},
		{"the token, trimmed", AdminConfig{Token: " t1\n"}, []string{"t1"}, false},
		{"every line of the file, comments and blanks skipped", AdminConfig{TokenFile: file("two", "# rotation\nnew\n\n  old  \n")}, []string{"new", "old"}, false},
		{"the token and the file together", AdminConfig{Token: "t1", TokenFile: file("one", "t2\n")}, []string{"t1", "t2"}, false},
		{"a file without a token is an error, not a disabled API", AdminConfig{TokenFile: file("empty", "# none yet\n")}, nil, true},
		{"a missing file is an error", AdminConfig{TokenFile: filepath.Join(dir, "missing")}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.Tokens()
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Fatalf("tokens() = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
