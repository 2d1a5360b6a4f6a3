package archtest

import (
	"regexp"
	"slices"
	"strings"
)

// mustNotImport starts the sentence a doc.go states its rule in.
const mustNotImport = "must not import"

// statement is what one "must not import" sentence of a package doc says.
type statement struct {
	// leaf: it names "any other package" (of the module).
	leaf bool
	// named are the module packages it names outside parentheses, in
	// order; a parenthesis explains or gives examples, as in "cmd/bridge
	// (a main package)" or "any other package (not scanjob, queue or
	// handlers)".
	named []string
}

// word is a candidate package path in a sentence: "queue", "cmd/bridge".
var word = regexp.MustCompile(`[a-z][a-z0-9_]*(?:/[a-z][a-z0-9_]*)*`)

// statements reads every "must not import" sentence of doc, a package
// comment's text. A sentence runs to the first ':', ';' or full stop
// outside parentheses, so the reason that follows a colon ("It must not
// import queue: cmd/bridge wires it in") names nothing. isPkg says whether
// a word is a package of the module.
func statements(doc string, isPkg func(string) bool) []statement {
	text := strings.Join(strings.Fields(doc), " ")
	var out []statement
	for {
		i := strings.Index(text, mustNotImport)
		if i < 0 {
			return out
		}
		text = text[i+len(mustNotImport):]
		var full, bare strings.Builder
		depth := 0
	scan:
		for j, c := range text {
			switch {
			case c == '(':
				depth++
			case c == ')':
				depth = max(depth-1, 0)
				full.WriteRune(c)
				continue
			case depth == 0 && (c == ':' || c == ';'):
				break scan
			case depth == 0 && c == '.' && (j+1 == len(text) || text[j+1] == ' '):
				break scan
			}
			full.WriteRune(c)
			if depth == 0 {
				bare.WriteRune(c)
			}
		}
		st := statement{leaf: strings.Contains(full.String(), "any other package")}
		for _, w := range word.FindAllString(bare.String(), -1) {
			if isPkg(w) && !slices.Contains(st.named, w) {
				st.named = append(st.named, w)
			}
		}
		out = append(out, st)
	}
}
