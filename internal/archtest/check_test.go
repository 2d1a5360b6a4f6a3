package archtest

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// The checks on made-up docs and graphs, so that a rule that should fail
// is seen failing.

var testPkgs = []string{"scanjob", "queue", "handlers", "handlers/formats", "hssclient", "hssclient/hsstest", "cmd/bridge", "ratelimit"}

func isTestPkg(w string) bool { return slices.Contains(testPkgs, w) }

func TestStatementsReadTheDocSentences(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []statement
	}{
		{"a list with a final or, the reason after the colon ignored",
			"Dependencies: the standard library. It must not import hssclient, queue, handlers or cmd/bridge:\ncmd/bridge wires it in (ratelimit, queue) so that it stays a leaf.",
			[]statement{{named: []string{"hssclient", "queue", "handlers", "cmd/bridge"}}}},
		{"a sentence that ends with a full stop, across lines",
			"through the DeadLetters interface. It must not import hssclient or\ncmd/bridge.\nThe queue is next.",
			[]statement{{named: []string{"hssclient", "cmd/bridge"}}}},
		{"parentheses explain and name nothing",
			"it must not import cmd/bridge (a main package, and queue is not at issue) or handlers (the answers are read as a sender reads them). Linux only.",
			[]statement{{named: []string{"cmd/bridge", "handlers"}}}},
		{"any other package makes a leaf, its examples in parentheses ignored",
			"It is a leaf. It must not import any other package of this module (not scanjob, queue or handlers) and knows nothing of webhooks, NATS or metrics libraries: the queue maps its jobs.",
			[]statement{{leaf: true}}},
		{"any other package in parentheses makes a leaf too",
			"For the same reason it must not import hssclient (nor any other package of this module). Time comes from Options.Now.",
			[]statement{{leaf: true, named: []string{"hssclient"}}}},
		{"words that are not packages of the module are ignored",
			"It must not import any\nother package of this module, scanjob included: handlers turns a Push into a job.",
			[]statement{{leaf: true, named: []string{"scanjob"}}}},
		{"two sentences give two statements",
			"It must not import queue. Its tests must not import handlers.",
			[]statement{{named: []string{"queue"}}, {named: []string{"handlers"}}}},
		{"a doc without the sentence states nothing",
			"Package scanner calls HSS. It imports hssclient.",
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := statements(tt.doc, isTestPkg)
			if !slices.EqualFunc(got, tt.want, func(a, b statement) bool {
				return a.leaf == b.leaf && slices.Equal(a.named, b.named)
			}) {
				t.Errorf("statements = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestViolationsNameTheChain(t *testing.T) {
	// base is the module's graph as it is; a case may add an import.
	base := map[string][]string{
		"handlers": {"handlers/formats", "queue", "scanjob"},
		"queue":    {"scanjob"},
	}
	tests := []struct {
		name   string
		rule   rule
		direct []string
		add    [2]string         // an import added to base: importer, imported
		want   map[string]string // forbidden package → chain
	}{
		{name: "allowed imports pass",
			rule: rule{pkg: "handlers", not: []string{"hssclient", "cmd/bridge"}}, direct: base["handlers"]},
		{name: "a new direct import of a forbidden package fails",
			rule: rule{pkg: "queue", not: []string{"hssclient"}}, direct: []string{"scanjob", "hssclient"},
			want: map[string]string{"hssclient": "queue → hssclient"}},
		{name: "a forbidden package two imports away fails with the shortest chain",
			rule: rule{pkg: "handlers", not: []string{"hssclient"}}, direct: base["handlers"],
			add:  [2]string{"scanjob", "hssclient"},
			want: map[string]string{"hssclient": "handlers → scanjob → hssclient"}},
		{name: "a leaf may import nothing of the module",
			rule: rule{pkg: "queue", leaf: true}, direct: base["queue"],
			want: map[string]string{"scanjob": "queue → scanjob"}},
		{name: "an external test importing its own package is no violation",
			rule: rule{pkg: "hssclient", leaf: true}, direct: []string{"hssclient"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			graph := maps.Clone(base)
			if tt.add[0] != "" {
				graph[tt.add[0]] = append(slices.Clone(graph[tt.add[0]]), tt.add[1])
			}
			got := map[string]string{}
			for dep, chain := range violations(tt.rule, tt.direct, func(p string) []string { return graph[p] }) {
				got[dep] = strings.Join(chain, " → ")
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("violations = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDisagreementsBetweenDocAndRule(t *testing.T) {
	tests := []struct {
		name string
		rule rule
		said statement
		want int
	}{
		{"the same packages agree", rule{not: []string{"hssclient", "cmd/bridge"}}, statement{named: []string{"cmd/bridge", "hssclient"}}, 0},
		{"a leaf agrees with a leaf that names examples", rule{leaf: true}, statement{leaf: true, named: []string{"scanjob"}}, 0},
		{"a package the doc names and the rule lacks", rule{not: []string{"hssclient"}}, statement{named: []string{"hssclient", "queue"}}, 1},
		{"a package the rule forbids and the doc does not name", rule{not: []string{"hssclient", "queue"}}, statement{named: []string{"hssclient"}}, 1},
		{"a leaf doc and a rule that is not", rule{not: []string{"hssclient"}}, statement{leaf: true, named: []string{"hssclient"}}, 1},
		{"a leaf rule and a doc that is not", rule{leaf: true}, statement{named: []string{"queue"}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := disagreements(tt.rule, tt.said); len(got) != tt.want {
				t.Errorf("disagreements = %q, want %d", got, tt.want)
			}
		})
	}
}
