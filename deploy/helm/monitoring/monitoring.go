// Package monitoring reads the chart's alerting rules
// (deploy/helm/scan-bridge/files/alerts.yaml) and Grafana dashboard
// (files/dashboard.json) and lists the metric names their PromQL
// expressions select, parsed with Prometheus's own PromQL parser. The
// chart's tests check the rules with Prometheus's rule-file parser; the
// bridge's test (cmd/bridge/alerts_test.go) checks every name against a
// live /metrics. It imports nothing of this module.
package monitoring

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// Paths of the files, from the repository root.
const (
	AlertsFile    = "deploy/helm/scan-bridge/files/alerts.yaml"
	DashboardFile = "deploy/helm/scan-bridge/files/dashboard.json"
)

var promql = parser.NewParser(parser.Options{})

// ExprMetrics returns the metric names expr selects, sorted, each once.
func ExprMetrics(expr string) ([]string, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, selectorName(vs.Name, vs.LabelMatchers))
		}
		return nil
	})
	return unique(names)
}

// selectorName is a selector's metric name, given as the name or as an
// equality matcher on __name__. A selector without one (a regexp on
// __name__, say) has none that could be checked, which is an error.
func selectorName(name string, ms []*labels.Matcher) string {
	if name != "" {
		return name
	}
	for _, m := range ms {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

func unique(names []string) ([]string, error) {
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > 0 && names[0] == "" {
		return nil, fmt.Errorf("a selector names no metric (only an exact name can be checked)")
	}
	return names, nil
}

// Rule is one alerting or recording rule of a rule file.
type Rule struct {
	Group, Alert, Record, Expr string
}

// Rules returns the rules of a Prometheus rule file in file order. It
// reads only what it returns; Prometheus's rulefmt checks the file.
func Rules(data []byte) ([]Rule, error) {
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("rule file: %w", err)
	}
	var rules []Rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			rules = append(rules, Rule{Group: g.Name, Alert: r.Alert, Record: r.Record, Expr: r.Expr})
		}
	}
	return rules, nil
}

// RuleMetrics returns the metric names every rule of a rule file selects.
func RuleMetrics(data []byte) ([]string, error) {
	rules, err := Rules(data)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range rules {
		n, err := ExprMetrics(r.Expr)
		if err != nil {
			return nil, fmt.Errorf("rule %s%s: %w", r.Alert, r.Record, err)
		}
		names = append(names, n...)
	}
	return unique(names)
}

// Query is one PromQL expression of a dashboard, where it is and what it
// is with Grafana's variables replaced, ready for the PromQL parser.
type Query struct {
	// Where names the panel (or template variable) and the target.
	Where string
	// Expr is the query as the dashboard has it.
	Expr string
	// PromQL is Expr with Grafana's variables replaced: $__rate_interval,
	// $__interval and $__range by 5m, any other $var or ${var} by "x".
	PromQL string
}

var (
	grafanaRange = regexp.MustCompile(`\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}`)
	grafanaVar   = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*`)
	labelValues  = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)
)

func grafanaToPromQL(expr string) string {
	return grafanaVar.ReplaceAllString(grafanaRange.ReplaceAllString(expr, "5m"), "x")
}

// DashboardQueries returns every Prometheus query of a Grafana dashboard:
// each panel's targets (panels nested in rows included) and the query of
// each templating variable (label_values(METRIC, LABEL) gives METRIC).
func DashboardQueries(data []byte) ([]Query, error) {
	type target struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	}
	type panel struct {
		ID      int      `json:"id"`
		Title   string   `json:"title"`
		Type    string   `json:"type"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var qs []Query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				qs = append(qs, Query{Where: fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, t.RefID), Expr: t.Expr, PromQL: grafanaToPromQL(t.Expr)})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				return nil, fmt.Errorf("variable %s: query: %w", v.Name, err)
			}
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			return nil, fmt.Errorf("variable %s: query %q is not label_values(METRIC, LABEL)", v.Name, q.Query)
		}
		qs = append(qs, Query{Where: "variable " + v.Name, Expr: q.Query, PromQL: grafanaToPromQL(m[1])})
	}
	return qs, nil
}

// DashboardMetrics returns the metric names every query of a dashboard
// selects.
func DashboardMetrics(data []byte) ([]string, error) {
	qs, err := DashboardQueries(data)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, q := range qs {
		if strings.TrimSpace(q.Expr) == "" {
			return nil, fmt.Errorf("%s: empty query", q.Where)
		}
		n, err := ExprMetrics(q.PromQL)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.Where, err)
		}
		names = append(names, n...)
	}
	return unique(names)
}
