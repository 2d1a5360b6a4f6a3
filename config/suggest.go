package config

import (
	"fmt"
	"strings"
)

// unknownKey words a key of the file that is no setting: where it is, as
// written, and the setting it was most likely meant to be. parent is the
// node it was found under; at is the written path of parent ("" at the
// top, "receivers[0].auth" in a list item).
func unknownKey(parent *node, at, key string) string {
	msg := join(at, key) + ": unknown setting"
	if s := suggestKey(parent, key); s != "" {
		msg += "; did you mean " + join(at, s) + "?"
	} else if p := elsewhere(at, key); p != "" {
		msg += "; did you mean " + p + "?"
	}
	return msg
}

// suggestKey is the key of parent nearest to key, "" when none is near
// enough to be a likely typo.
func suggestKey(parent *node, key string) string {
	names := make([]string, 0, len(parent.fields))
	for _, f := range parent.fields {
		names = append(names, f.name)
	}
	return nearest(key, names)
}

// elsewhere is the one setting whose last key is key, for a setting
// written at the wrong level ("calls_per_minute" at the top for
// hss.calls_per_minute, "project_id" in a receiver for its
// target.project_id); "" when there is none or more than one. Inside a
// list item (at is "receivers[0]..."), only the item's settings count.
func elsewhere(at, key string) string {
	scope, scopeAt, inItem := schema(), "", false
	if i := strings.IndexByte(at, ']'); i >= 0 {
		scopeAt = at[:i+1]
		if scope = lookup(scopeAt); scope == nil {
			return ""
		}
		inItem = true
	}
	var found []string
	scope.walk(func(n *node) {
		if n.name != key || (!inItem && n.env() == "") {
			return
		}
		// n.path is "receivers[].target.project_id" inside an item.
		found = append(found, scopeAt+strings.TrimPrefix(n.path, scope.path))
	})
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

// unknownEnv words a BRIDGE_* variable that sets nothing, with the
// variable most likely meant: the same name with "__" between the levels
// (BRIDGE_HSS_CALLS_PER_MINUTE for BRIDGE_HSS__CALLS_PER_MINUTE, the
// commonest slip), else the nearest name.
func unknownEnv(name string) string {
	msg := name + ": unknown setting"
	flat := strings.ReplaceAll(name, "__", "_")
	for _, valid := range sortedEnvNames() {
		if strings.ReplaceAll(valid, "__", "_") == flat {
			return fmt.Sprintf("%s; did you mean %s? (a double underscore separates the levels)", msg, valid)
		}
	}
	if s := nearest(name, sortedEnvNames()); s != "" {
		return msg + "; did you mean " + s + "?"
	}
	return msg
}

// nearest is the candidate with the smallest edit distance to s, if that
// distance is small for s's length (at most a third of it, and at least
// 2 for short keys), else the one candidate s abbreviates; "" otherwise.
// A case-only difference counts as none.
func nearest(s string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := distance(strings.ToLower(s), strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist >= 0 && bestDist <= max(2, len(s)/3) {
		return best
	}
	// An abbreviation: "repo" for "repository" (rather than for
	// "repository_regexp", which it starts too).
	shortest := ""
	for _, c := range candidates {
		if len(s) >= 3 && strings.HasPrefix(strings.ToLower(c), strings.ToLower(s)) && (shortest == "" || len(c) < len(shortest)) {
			shortest = c
		}
	}
	for _, c := range candidates {
		if len(s) >= 3 && strings.HasPrefix(strings.ToLower(c), strings.ToLower(s)) && !strings.HasPrefix(c, shortest) {
			return "" // two different words
		}
	}
	return shortest
}

// distance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// characters each cost 1, so "secert" is one step from "secret"
// (https://en.wikipedia.org/wiki/Damerau%E2%80%93Levenshtein_distance).
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
