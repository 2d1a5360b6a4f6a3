package sources

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCheckWordsEachProblem(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := Config{Name: "reg", URL: "https://registry.example.com", Auth: Auth{Method: AuthBasic, User: "u", PasswordFile: pw}}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"bad name", func(c *Config) { c.Name = "a.b" }, `name "a.b": use 1-64`},
		{"no url", func(c *Config) { c.URL = "" }, "url: is required"},
		{"http without insecure", func(c *Config) { c.URL = "http://r:5000" }, "http sends the registry credentials in clear"},
		{"a path", func(c *Config) { c.URL = "https://r/v2/x" }, "use scheme://host[:port]"},
		{"credentials in the url", func(c *Config) { c.URL = "https://u:p@r" }, "credentials go under auth"},
		{"no user", func(c *Config) { c.Auth.User = "" }, "auth.user: is required for method basic"},
		{"missing password file", func(c *Config) { c.Auth.PasswordFile = filepath.Join(dir, "none") }, "auth.password_file: open"},
		{"a field of another method", func(c *Config) { c.Auth.TokenFile = pw }, "auth.token_file: not used by method basic"},
		{"bearer without token", func(c *Config) { c.Auth = Auth{Method: AuthBearer} }, "auth.token_file: method bearer needs"},
		{"bad glob", func(c *Config) { c.Repositories.Include = []string{"team/["} }, `repositories.include[0] "team/[": not a glob`},
		{"sweep with a target", func(c *Config) { c.SweepFor = "hook"; c.Target.ProjectID = "p" }, "the receiver's target"},
		{"timeout over the interval", func(c *Config) { c.Schedule.Every = time.Minute; c.Limits.RoundTimeout = time.Hour }, "must not exceed schedule.every"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			errs := c.Check()
			got := ""
			for _, e := range errs {
				got += e.Error() + "\n"
			}
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Fatalf("Check =\n%s\nwant a line with %q", got, tt.want)
			}
			if strings.Contains(got, "secret-password") {
				t.Fatal("an error shows the password")
			}
		})
	}
}

func TestRepoTokenIsOneKeyToken(t *testing.T) {
	for _, repo := range []string{"team/app", "team/app.v2", "a", strings.Repeat("x/", 150) + "y"} {
		tok := repoToken(repo)
		if strings.Contains(tok, ".") || len(tok) > 200 || tok == "" {
			t.Errorf("repoToken(%q) = %q", repo, tok)
		}
	}
	if repoToken("team/app.v2") == repoToken("team/app=2Ev2") {
		t.Error("escaped names collide")
	}
}
