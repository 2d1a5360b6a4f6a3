package admin

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsNoForbiddenPackage enforces what doc.go promises: admin does
// not import handlers, hssclient or cmd/bridge.
func TestImportsNoForbiddenPackage(t *testing.T) {
	const module = "github.com/scan-bridge/scan-bridge/"
	forbidden := []string{module + "handlers", module + "hssclient", module + "cmd/bridge"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: import %s: %v", file, imp.Path.Value, err)
			}
			for _, p := range forbidden {
				if path == p || strings.HasPrefix(path, p+"/") {
					t.Errorf("%s imports %s, which admin must not import (doc.go)", file, path)
				}
			}
		}
	}
}
