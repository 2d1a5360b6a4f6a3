package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// module is the module's packages as go list sees them.
type module struct {
	path string // module path, e.g. github.com/scan-bridge/scan-bridge
	root string // directory of go.mod
	// pkgs maps a package's path in the module ("queue") to what go list
	// said about it.
	pkgs map[string]*listed
}

// listed is the part of go list -json this test reads.
type listed struct {
	ImportPath string
	ForTest    string
	Dir        string
	Imports    []string
	Error      *struct{ Err string }
}

// loadModule lists the module's packages once per test binary.
var loadModule = sync.OnceValues(func() (*module, error) {
	out, err := goCmd("", "env", "GOMOD")
	if err != nil {
		return nil, err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" {
		return nil, errors.New("not inside a module")
	}
	m := &module{root: filepath.Dir(gomod), pkgs: map[string]*listed{}}
	out, err = goCmd(m.root, "list", "-m", "-f", "{{.Path}}")
	if err != nil {
		return nil, err
	}
	m.path = strings.TrimSpace(string(out))
	out, err = goCmd(m.root, "list", "-e", "-json=ImportPath,Dir,Imports,Error", "./...")
	if err != nil {
		return nil, err
	}
	all, err := decodeListed(out)
	if err != nil {
		return nil, err
	}
	for _, p := range all {
		if p.Error != nil {
			return nil, fmt.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		if rel, ok := m.rel(p.ImportPath); ok {
			m.pkgs[rel] = p
		}
	}
	return m, nil
})

// rel is an import path's path in the module, "" for the module's root
// package; ok is false outside the module.
func (m *module) rel(importPath string) (string, bool) {
	importPath, _, _ = strings.Cut(importPath, " ") // "p [p.test]": p compiled for its tests
	if importPath == m.path {
		return "", true
	}
	rel, ok := strings.CutPrefix(importPath, m.path+"/")
	return rel, ok
}

// testVariants lists pkg compiled with its tests and its external test
// package: their imports and deps are those of the package's test files.
func (m *module) testVariants(pkg string) ([]*listed, error) {
	out, err := goCmd(m.root, "list", "-e", "-test", "-json=ImportPath,ForTest,Imports,Error", "./"+pkg)
	if err != nil {
		return nil, err
	}
	all, err := decodeListed(out)
	if err != nil {
		return nil, err
	}
	var variants []*listed
	for _, p := range all {
		if p.Error != nil {
			return nil, fmt.Errorf("go list -test %s: %s", p.ImportPath, p.Error.Err)
		}
		if p.ForTest == m.path+"/"+pkg {
			variants = append(variants, p)
		}
	}
	return variants, nil
}

func decodeListed(out []byte) ([]*listed, error) {
	var all []*listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(listed)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			return all, nil
		} else if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		all = append(all, p)
	}
}

func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

func mustLoad(t *testing.T) *module {
	t.Helper()
	m, err := loadModule()
	if err != nil {
		t.Fatalf("list the module: %v", err)
	}
	return m
}

// names is the module's package paths, sorted.
func (m *module) names() []string {
	names := make([]string, 0, len(m.pkgs))
	for rel := range m.pkgs {
		names = append(names, rel)
	}
	slices.Sort(names)
	return names
}
