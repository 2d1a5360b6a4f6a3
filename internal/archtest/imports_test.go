package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestImportRules fails when a package depends, directly or through
// another package of the module, on one its rule forbids.
func TestImportRules(t *testing.T) {
	m := mustLoad(t)
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			p, ok := m.pkgs[r.pkg]
			if !ok {
				t.Fatalf("rules has a line for %s, but the module has no package %s/%s: "+
					"a typo, or a package that does not exist yet (add its line when it does)", r.pkg, m.path, r.pkg)
			}
			for _, n := range r.not {
				if _, ok := m.pkgs[n]; !ok {
					t.Errorf("the line for %s forbids %s, which is not a package of the module", r.pkg, n)
				}
			}
			variants := []*listed{p}
			if r.tests {
				vs, err := m.testVariants(r.pkg)
				if err != nil {
					t.Fatal(err)
				}
				variants = append(variants, vs...)
			}
			for _, v := range variants {
				in := ""
				if v.ForTest != "" {
					in = " in its test files"
				}
				for dep, chain := range violations(r, m.moduleImports(v), m.importsOf) {
					t.Errorf("%s must not import %s, as %s/doc.go says, but it does%s: %s",
						r.pkg, dep, r.pkg, in, strings.Join(chain, " → "))
				}
			}
		})
	}
}

// TestDocsStateTheRules fails when a doc.go's "must not import" sentence
// and the package's line in rules disagree, or one of them is missing.
func TestDocsStateTheRules(t *testing.T) {
	m := mustLoad(t)
	byPkg := map[string]rule{}
	for _, r := range rules {
		if _, dup := byPkg[r.pkg]; dup {
			t.Errorf("rules has two lines for %s", r.pkg)
		}
		byPkg[r.pkg] = r
	}
	isPkg := func(w string) bool { _, ok := m.pkgs[w]; return ok }
	for _, rel := range m.names() {
		r, hasRule := byPkg[rel]
		doc, err := packageDoc(filepath.Join(m.pkgs[rel].Dir, "doc.go"))
		if err != nil {
			if hasRule {
				t.Errorf("rules has a line for %s, but its doc.go cannot state it: %v", rel, err)
			}
			continue
		}
		said := statement{}
		sts := statements(doc, isPkg)
		for _, st := range sts {
			said.leaf = said.leaf || st.leaf
			for _, n := range st.named {
				if !slices.Contains(said.named, n) {
					said.named = append(said.named, n)
				}
			}
		}
		switch {
		case len(sts) == 0 && hasRule:
			t.Errorf("rules has a line for %s, but %s/doc.go states no %q sentence", rel, rel, mustNotImport)
			continue
		case len(sts) == 0:
			continue
		case !hasRule:
			t.Errorf("%s/doc.go says what it %s, but rules in rules_test.go has no line for %s", rel, mustNotImport, rel)
			continue
		}
		for _, d := range disagreements(r, said) {
			t.Errorf("%s: %s", rel, d)
		}
	}
}

// disagreements lists where a rule and its doc.go's sentences differ.
func disagreements(r rule, said statement) []string {
	var out []string
	if said.leaf && !r.leaf {
		out = append(out, `doc.go forbids "any other package" of the module, but its line in rules is not leaf: true`)
	}
	if r.leaf && !said.leaf {
		out = append(out, `its line in rules says leaf: true, but doc.go does not forbid "any other package" of the module`)
	}
	for _, n := range said.named {
		if !r.leaf && !slices.Contains(r.not, n) {
			out = append(out, "doc.go says it "+mustNotImport+" "+n+", but its line in rules does not forbid it")
		}
	}
	for _, n := range r.not {
		if !slices.Contains(said.named, n) {
			out = append(out, "its line in rules forbids "+n+", but doc.go does not say it "+mustNotImport+" it")
		}
	}
	return out
}

// violations maps each package that r forbids and that pkg reaches from
// its direct imports to the import chain that reaches it. imports gives a
// package's direct imports within the module.
func violations(r rule, direct []string, imports func(string) []string) map[string][]string {
	forbidden := func(p string) bool { return p != r.pkg && (r.leaf || slices.Contains(r.not, p)) }
	out := map[string][]string{}
	// Breadth first, so each chain is a shortest one.
	via := map[string][]string{}
	queue := []string{}
	for _, d := range direct {
		if _, seen := via[d]; !seen {
			via[d] = []string{r.pkg, d}
			queue = append(queue, d)
		}
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if forbidden(p) {
			out[p] = via[p]
		}
		for _, d := range imports(p) {
			if _, seen := via[d]; !seen {
				via[d] = append(slices.Clone(via[p]), d)
				queue = append(queue, d)
			}
		}
	}
	return out
}

// moduleImports is p's direct imports within the module.
func (m *module) moduleImports(p *listed) []string {
	var out []string
	for _, imp := range p.Imports {
		if rel, ok := m.rel(imp); ok {
			out = append(out, rel)
		}
	}
	return out
}

func (m *module) importsOf(rel string) []string {
	if p, ok := m.pkgs[rel]; ok {
		return m.moduleImports(p)
	}
	return nil
}

// packageDoc is the package comment of a doc.go.
func packageDoc(path string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
	if err != nil {
		return "", err
	}
	if f.Doc == nil {
		return "", nil
	}
	return f.Doc.Text(), nil
}
