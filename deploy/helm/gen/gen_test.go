package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the repository root seen from this package's directory.
const repoRoot = "../../.."

// TestManifestsAreRendered fails when deploy/kubernetes is not what the
// chart renders now: the kustomize example and the chart must not drift.
func TestManifestsAreRendered(t *testing.T) {
	files, err := generate(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repoRoot, outDir)
	for _, name := range sortedKeys(files) {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s/%s: %v; run `%s`", outDir, name, err, regenerate)
			continue
		}
		if !bytes.Equal(got, files[name]) {
			t.Errorf("%s/%s differs from a fresh render of the chart; run `%s`\n%s", outDir, name, regenerate,
				firstDifference(string(got), string(files[name])))
		}
	}
	stale, err := staleFiles(dir, files)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Errorf("%s has generated files the chart no longer renders: %v; run `%s`", outDir, stale, regenerate)
	}

	var k struct {
		Resources []string `yaml:"resources"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if want := sortedKeys(files); !slices.Equal(slices.Sorted(slices.Values(k.Resources)), want) {
		t.Errorf("kustomization.yaml resources %v, want the rendered files %v", k.Resources, want)
	}
}

// TestNATSValuesMatchTheChart keeps deploy/kubernetes/nats-values.yaml (a
// separate NATS release) equal to the chart's nats: values (the bundled
// one), but for the chart's enabled switch.
func TestNATSValuesMatchTheChart(t *testing.T) {
	var chart struct {
		NATS map[string]any `yaml:"nats"`
	}
	var standalone map[string]any
	for _, f := range []struct {
		path string
		into any
	}{
		{filepath.Join(repoRoot, chartDir, "values.yaml"), &chart},
		{filepath.Join(repoRoot, outDir, "nats-values.yaml"), &standalone},
	} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, f.into); err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
	}
	delete(chart.NATS, "enabled")
	a, _ := json.MarshalIndent(chart.NATS, "", "  ")
	b, _ := json.MarshalIndent(standalone, "", "  ")
	if !bytes.Equal(a, b) {
		t.Errorf("%s/nats-values.yaml differs from the nats: values of %s/values.yaml:\n%s",
			outDir, chartDir, firstDifference(string(b), string(a)))
	}
}

// firstDifference shows the first line where got and want differ.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n  have: %s\n  want: %s", i+1, gl, wl)
		}
	}
	return "(they differ in length only)"
}
