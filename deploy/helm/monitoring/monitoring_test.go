package monitoring

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// repoRoot is the repository root seen from this package's directory.
const repoRoot = "../../.."

func read(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestExprMetrics(t *testing.T) {
	cases := []struct {
		name, expr string
		want       []string
		wantErr    bool
	}{
		{name: "a bare selector", expr: `up`, want: []string{"up"}},
		{name: "both sides of a binary operation, once each", expr: `sum(rate(a_total[5m])) / sum(rate(b_total[5m])) > sum(rate(a_total[1m]))`, want: []string{"a_total", "b_total"}},
		{name: "a name given as a __name__ matcher", expr: `{__name__="c_seconds_bucket", le="1"}`, want: []string{"c_seconds_bucket"}},
		{name: "inside functions and subqueries", expr: `absent(max_over_time(d[1d:5m]) == 1)`, want: []string{"d"}},
		{name: "a name only matched by a regexp cannot be checked", expr: `{__name__=~"scanbridge_.*"}`, wantErr: true},
		{name: "not PromQL", expr: `sum(rate(x[5m])`, wantErr: true},
	}
	for _, c := range cases {
		got, err := ExprMetrics(c.expr)
		if (err != nil) != c.wantErr || !slices.Equal(got, c.want) {
			t.Errorf("%s: ExprMetrics(%q) = %v, %v; want %v (error %v)", c.name, c.expr, got, err, c.want, c.wantErr)
		}
	}
}

// TestAlertRules loads files/alerts.yaml with Prometheus's own rule-file
// parser, strictly (unknown fields fail; every expression and annotation
// template is parsed), and checks what docs/operations.md relies on: every
// alert has a severity, a summary, a description and a runbook link to a
// section of docs/operations.md.
func TestAlertRules(t *testing.T) {
	data := read(t, AlertsFile)
	groups, errs := rulefmt.Parse(data, false, model.LegacyValidation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("%s: %v", AlertsFile, err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	anchors := headingAnchors(string(read(t, "docs/operations.md")))
	const runbooks = "https://github.com/scan-bridge/scan-bridge/blob/main/docs/operations.md#"
	alerts := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			switch sev := r.Labels["severity"]; {
			case sev != "critical" && sev != "warning":
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, sev)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbooks)
			if !ok || !anchors[anchor] {
				t.Errorf("%s: runbook_url %q is not a section of docs/operations.md (sections: %v)", r.Alert, r.Annotations["runbook_url"], anchors)
			}
			if anchor != strings.ToLower(r.Alert) {
				t.Errorf("%s: runbook_url points at #%s, want its own section #%s", r.Alert, anchor, strings.ToLower(r.Alert))
			}
		}
	}
	if alerts < 16 {
		t.Errorf("%d alerts, want the 16 docs/operations.md describes", alerts)
	}
	names, err := RuleMetrics(data)
	if err != nil {
		t.Fatal(err)
	}
	checkNames(t, AlertsFile, names)
}

// TestDashboard parses every query of files/dashboard.json with the PromQL
// parser (Grafana's interval variables replaced) and checks that each
// panel says what it shows.
func TestDashboard(t *testing.T) {
	data := read(t, DashboardFile)
	qs, err := DashboardQueries(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 10 {
		t.Errorf("%d queries, want one or more per panel", len(qs))
	}
	for _, q := range qs {
		if _, err := ExprMetrics(q.PromQL); err != nil {
			t.Errorf("%s: %q: %v", q.Where, q.Expr, err)
		}
	}
	names, err := DashboardMetrics(data)
	if err != nil {
		t.Fatal(err)
	}
	checkNames(t, DashboardFile, names)
	for _, want := range []string{
		"scanbridge_webhooks_total", "scanbridge_webhook_duration_seconds_bucket", "scanbridge_queue_jobs_published_total",
		"scanbridge_hss_calls_total", "scanbridge_queue_call_items_sum", "scanbridge_hss_rate_limit_per_minute",
		"scanbridge_queue_consumer_pending", "scanbridge_queue_consumer_ack_pending", "scanbridge_queue_consumer_held",
		"scanbridge_queue_accept_latency_seconds_bucket", "scanbridge_queue_dead_letters_total",
		"scanbridge_images", "scanbridge_push_to_scanned_seconds_bucket", "scanbridge_oldest_unscanned_image_age_seconds",
		"scanbridge_hss_quota_per_minute", "scanbridge_queue_stream_bytes", "scanbridge_queue_stream_max_bytes",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("the dashboard shows no %s", want)
		}
	}
}

// checkNames: the rules and the dashboard use the bridge's metrics and
// Prometheus's up; cmd/bridge/alerts_test.go checks them against a live
// /metrics.
func checkNames(t *testing.T, file string, names []string) {
	t.Helper()
	for _, n := range names {
		if n != "up" && !strings.HasPrefix(n, "scanbridge_") {
			t.Errorf("%s uses %s, which is neither the bridge's nor Prometheus's up", file, n)
		}
	}
}

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown text: lower case, spaces to hyphens, other punctuation dropped.
func headingAnchors(md string) map[string]bool {
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	out := map[string]bool{}
	for _, line := range strings.Split(md, "\n") {
		h, ok := strings.CutPrefix(line, "#")
		if !ok {
			continue
		}
		h = strings.TrimSpace(strings.TrimLeft(h, "#"))
		out[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
	}
	return out
}
