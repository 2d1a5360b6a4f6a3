package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/scan-bridge/scan-bridge/handlers"
)

func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd(&out, &errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestRouteCommand(t *testing.T) {
	cfg := writeFile(t, `
hss: {region: cn-north-4, project_id: p1}
receivers:
  - {name: ci, format: generic, auth: {method: none}}
routes:
  - match: {repository: "tmp/*"}
    action: drop
  - match: {repository_regexp: "^apps/(.+)$"}
    namespace: prod
    image: "$1"
`)
	tests := []struct {
		name    string
		event   string
		wantJob string
		wantErr string
	}{
		{"a renamed job names its rule", `{"repository":"apps/web","tag":"1"}`, "prod/web:1", ""},
		{"a dropped push is listed as skipped", `{"repository":"tmp/x","tag":"1"}`, "", ""},
		{"an invalid job fails the command", `{"repository":"apps/` + strings.Repeat("w", 129) + `","tag":"1"}`, "", "refuse"},
		{"a malformed body fails the command", `{"nope":1}`, "", "generic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, tt.event, "route", "-c", cfg, "-r", "ci", "--event", "-")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ex handlers.Explanation
			if err := json.Unmarshal([]byte(out), &ex); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if tt.wantJob == "" {
				if len(ex.Jobs) != 0 || len(ex.Skipped) != 1 {
					t.Fatalf("got %+v, want one skip", ex)
				}
				return
			}
			j := ex.Jobs[0]
			if got := j.Job.Namespace + "/" + j.Job.Image + ":" + j.Job.Tag; got != tt.wantJob || j.Decision.Rule != 1 {
				t.Fatalf("got %s by rule %d, want %s by rule 1", got, j.Decision.Rule, tt.wantJob)
			}
		})
	}
}
