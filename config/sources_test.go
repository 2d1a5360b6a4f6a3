package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestSourcesInTheUsersTerms(t *testing.T) {
	t.Setenv("HUAWEICLOUD_SDK_PROJECT_ID", "")
	tests := []struct {
		name string
		file string
		env  []string
		want string // the whole error after "invalid configuration, N problem(s):\n"
	}{
		{"an interval below the minimum",
			okHSS + okReceivers + "sources:\n  - {name: reg, kind: registry, url: 'https://r', schedule: {every: 5s}}\n", nil,
			"sources[0].schedule.every: 5s is below the minimum 10s"},
		{"a kind that is none of them",
			okHSS + okReceivers + "sources:\n  - {name: reg, kind: ecr, url: 'https://r'}\n", nil,
			`sources[0].kind: "ecr" is not one of registry, swr`},
		{"a registry setting on an swr source",
			okHSS + okReceivers + "sources:\n  - {name: reg, kind: swr, url: 'https://r'}\n", nil,
			"sources[0].url: not used by kind swr (SWR is reached at swr.region or swr.endpoint and signed with AK/SK); remove it"},
		{"an swr access key without its secret",
			okHSS + okReceivers + "sources:\n  - {name: reg, kind: swr, swr: {access_key: AK}}\n", nil,
			"sources[0].swr.secret_key_file: swr.access_key needs its secret key (secret_key_file, or secret_key)"},
		{"an swr secret file that is missing",
			okHSS + okReceivers + "sources:\n  - {name: reg, kind: swr, swr: {access_key: AK, secret_key_file: /nonexistent/sk}}\n", nil,
			"sources[0].swr.secret_key_file: open /nonexistent/sk: no such file or directory"},
		{"an swr namespace glob that is none",
			okHSS + okReceivers + "sources:\n  - {name: reg, kind: swr, swr: {namespaces: {include: ['[']}}}\n", nil,
			`sources[0].swr.namespaces.include[0] "[": not a glob (path.Match syntax)`},
		{"a typo inside a source",
			okHSS + okReceivers + "sources:\n  - {name: reg, kind: registry, url: 'https://r', repositories: {includes: [a]}}\n", nil,
			"sources[0].repositories.includes: unknown setting; did you mean sources[0].repositories.include?"},
		{"sweep_for an unknown receiver",
			okHSS + okReceivers + "sources:\n  - {name: reg, kind: registry, url: 'https://r', sweep_for: cj}\n", nil,
			`sources[0].sweep_for "cj": no receiver has this name (receivers: ci)`},
		{"a source named as a receiver",
			okHSS + okReceivers + "sources:\n  - {name: ci, kind: registry, url: 'https://r'}\n", nil,
			`sources[0].name "ci": a receiver has this name; a source beside that receiver's webhook sets sweep_for: "ci" and a name of its own`},
		{"a target without the hss default",
			"hss: {region: cn-north-4}\n" + okReceivers + "sources:\n  - {name: reg, kind: registry, url: 'https://r', target: {project_id: p1}}\n", nil,
			"hss.project_id (BRIDGE_HSS__PROJECT_ID): is required, here or in HUAWEICLOUD_SDK_PROJECT_ID (receiver \"ci\" sets no target.project_id)"},
		{"an inline password from BRIDGE_SOURCES is never shown",
			okHSS + okReceivers, []string{`BRIDGE_SOURCES=[{"name":"reg","kind":"registry","url":"http://r","auth":{"method":"basic","user":"u","password":"pw-never-shown"}}]`},
			`sources[0].url "http://r": http sends the registry credentials in clear; use https, or set insecure: true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadChecked(writeFile(t, tt.file), func() []string { return tt.env }, nil)
			if err == nil {
				t.Fatal("no error")
			}
			_, got, _ := strings.Cut(err.Error(), ":\n")
			if got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
			if strings.Contains(err.Error(), "pw-never-shown") {
				t.Fatal("the error shows a password")
			}
		})
	}
}

func TestSourcesFilledAndPrinted(t *testing.T) {
	file := okHSS + okReceivers + `sources:
  - name: reg
    kind: registry
    url: https://registry.example.com
    auth: {method: bearer, token: tok-never-printed}
  - name: sweep
    kind: registry
    url: https://registry.example.com
    sweep_for: ci
`
	path := writeFile(t, file)
	cfg, err := LoadChecked(path, func() []string { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	srcs := cfg.FilledSources()
	if srcs[0].Target.ProjectID != "p1" || srcs[0].Schedule.Every != 5*time.Minute || srcs[0].Limits.RoundTimeout != 5*time.Minute {
		t.Errorf("filled %+v", srcs[0])
	}
	if srcs[1].Target.ProjectID != "" {
		t.Errorf("a sweep took a target of its own: %+v", srcs[1].Target)
	}
	var b strings.Builder
	if err := Print(&b, path, func() []string { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "tok-never-printed") || !strings.Contains(b.String(), "sweep_for: ci") {
		t.Fatalf("print:\n%s", b.String())
	}
	next := cfg
	next.Sources = nil
	if lines := cfg.RestartNeeded(next); len(lines) != 1 || lines[0] != "sources changed: restart the bridge to apply" {
		t.Fatalf("RestartNeeded = %v", lines)
	}
}

// TestSourcesDocExampleIsValid loads the example of docs/sources.md.
func TestSourcesDocExampleIsValid(t *testing.T) {
	doc, err := os.ReadFile("../docs/sources.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Example\n\n```yaml\n")
	if !ok {
		t.Fatal("docs/sources.md has no example")
	}
	example, _, _ := strings.Cut(rest, "```")
	dir := t.TempDir()
	for _, f := range []string{"/run/secrets/registry-password", "/run/secrets/harbor-hook", "/run/secrets/harbor-dockerconfig"} {
		example = strings.ReplaceAll(example, f, writeSecret(t, dir, f[strings.LastIndexByte(f, '/')+1:], "a-secret-of-16-bytes-or-more"))
	}
	cfg, err := LoadChecked(writeFile(t, okHSS+example), func() []string { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sources) < 2 {
		t.Fatalf("sources %+v", cfg.Sources)
	}
}
