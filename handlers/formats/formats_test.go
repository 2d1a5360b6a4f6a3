package formats

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestEveryFormatHasFixturesAndAFuzzTest makes a new format come with what
// every format has: real bodies under testdata/<format>/ with a README.md
// naming their sources, and a Fuzz function that fuzzes it through
// fuzzDecoder. It also refuses fixture directories of formats that no
// longer exist.
func TestEveryFormatHasFixturesAndAFuzzTest(t *testing.T) {
	fuzzed := fuzzedFormats(t)
	names := Names()
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			fixtures, err := filepath.Glob(filepath.Join(dir, "*.json"))
			if err != nil || len(fixtures) == 0 {
				t.Errorf("no fixtures in %s: add real bodies of the format (%v)", dir, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
				t.Errorf("%s has no README.md naming the source of each fixture: %v", dir, err)
			}
			if !fuzzed[name] {
				t.Errorf("no Fuzz function calls fuzzDecoder(f, %q, …)", name)
			}
		})
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatalf("read testdata: %v", err)
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != "fuzz" && !slices.Contains(names, e.Name()) {
			t.Errorf("testdata/%s is not a registered format", e.Name())
		}
	}
}

// fuzzedFormats reads this package's test files and returns the formats
// that a Fuzz function passes to fuzzDecoder as a string literal.
func fuzzedFormats(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	fuzzed := map[string]bool{}
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Fuzz") || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) < 2 {
					return true
				}
				if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "fuzzDecoder" {
					return true
				}
				if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if name, err := strconv.Unquote(lit.Value); err == nil {
						fuzzed[name] = true
					}
				}
				return true
			})
		}
	}
	return fuzzed
}

// TestNonJSONBodiesAreMalformed holds every registered format to the
// error contract the handler relies on: a body that is not JSON is
// refused with an error that wraps ErrMalformed and names the format.
func TestNonJSONBodiesAreMalformed(t *testing.T) {
	bodies := []struct{ name, body string }{
		{"an empty body", ""},
		{"plain text", "an image was pushed"},
		{"a form", "type=PUSH_ARTIFACT&repository=team%2Fapp"},
		{"XML", "<event><repository>team/app</repository></event>"},
		{"truncated JSON", `{"repository":"team/app"`},
		{"bytes that are not UTF-8", "\xff\xfe\x00{"},
	}
	for _, name := range Names() {
		dec := decoderFor(t, name)
		for _, b := range bodies {
			t.Run(name+"/"+b.name, func(t *testing.T) {
				res, err := dec([]byte(b.body), nil)
				if err == nil {
					t.Fatalf("decode = %s, want an error", formatResult(res))
				}
				checkError(t, name, err)
			})
		}
	}
}

// TestImportsWhatDocGoAllows enforces what doc.go promises: the package
// is a leaf that imports no package of this module, and of third-party
// modules only gjson, for the fast path.
func TestImportsWhatDocGoAllows(t *testing.T) {
	const allowed = "github.com/tidwall/gjson"
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: import %s: %v", file, imp.Path.Value, err)
			}
			// Standard library paths have no dot in their first element.
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") && path != allowed {
				t.Errorf("%s imports %s; the package may import only the standard library and %s", file, path, allowed)
			}
		}
	}
}
