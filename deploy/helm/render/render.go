// Package render renders the scan-bridge Helm chart (deploy/helm/scan-bridge)
// the way `helm template` does, with Helm's own Go packages: load the chart,
// drop the dependencies whose condition is false, merge the values over the
// chart's values.yaml, execute the templates. No cluster and no network are
// involved (templates that call lookup get nothing, as in helm template).
//
// It is used by the manifest generator (deploy/helm/gen), which writes
// deploy/kubernetes from the chart, and by the chart's tests. It imports
// nothing of this module.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
)

// Options say what to render.
type Options struct {
	// ChartDir is the chart's directory (deploy/helm/scan-bridge).
	ChartDir string
	// Release and Namespace are the release's name and namespace.
	Release, Namespace string
	// Values are the user's values (helm -f), merged over values.yaml.
	Values map[string]any
	// Service is .Release.Service, which the chart writes into the label
	// app.kubernetes.io/managed-by; empty: "Helm", as helm itself sets it.
	Service string
}

// Object is one rendered Kubernetes object.
type Object struct {
	// Template is the template file it came from, relative to the chart
	// (templates/deployment.yaml).
	Template string
	// APIVersion, Kind and Name identify it.
	APIVersion, Kind, Name string
	// YAML is its document exactly as the template wrote it, comments
	// included, without the "---" separator.
	YAML string
}

// Chart renders the chart and returns its objects in template order, and
// within a template in the order written. NOTES.txt and empty documents are
// left out.
func Chart(o Options) ([]Object, error) {
	chrt, err := loader.LoadDir(o.ChartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", o.ChartDir, err)
	}
	vals := o.Values
	if vals == nil {
		vals = map[string]any{}
	}
	if err := checkDependencies(chrt, vals); err != nil {
		return nil, err
	}
	if err := chartutil.ProcessDependencies(chrt, vals); err != nil {
		return nil, fmt.Errorf("chart dependencies: %w", err)
	}
	top, err := util.ToRenderValues(chrt, vals, common.ReleaseOptions{
		Name: o.Release, Namespace: o.Namespace, Revision: 1, IsInstall: true,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("chart values: %w", err)
	}
	if o.Service != "" {
		top["Release"].(map[string]any)["Service"] = o.Service
	}
	files, err := engine.Render(chrt, top)
	if err != nil {
		return nil, fmt.Errorf("render chart: %w", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	var objs []Object
	for _, name := range names {
		rel := strings.TrimPrefix(name, chrt.Name()+"/")
		if path.Base(rel) == "NOTES.txt" {
			continue
		}
		docs, err := split(files[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		for i, doc := range docs {
			var meta struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				return nil, fmt.Errorf("%s document %d: %w", rel, i, err)
			}
			if meta.Kind == "" {
				if isEmpty(doc) {
					continue
				}
				return nil, fmt.Errorf("%s document %d: no kind", rel, i)
			}
			objs = append(objs, Object{Template: rel, APIVersion: meta.APIVersion, Kind: meta.Kind, Name: meta.Metadata.Name, YAML: doc})
		}
	}
	return objs, nil
}

// checkDependencies fails when a dependency whose condition holds is not
// in the chart's charts/ folder, where `helm dependency update` puts it;
// helm install refuses such a chart too.
func checkDependencies(chrt *chart.Chart, vals map[string]any) error {
	cvals, err := util.CoalesceValues(chrt, vals)
	if err != nil {
		return fmt.Errorf("chart values: %w", err)
	}
	for _, d := range chrt.Metadata.Dependencies {
		enabled := true
		if d.Condition != "" {
			if v, err := cvals.PathValue(d.Condition); err == nil {
				if b, ok := v.(bool); ok {
					enabled = b
				}
			}
		}
		if !enabled {
			continue
		}
		if !slices.ContainsFunc(chrt.Dependencies(), func(c *chart.Chart) bool { return c.Name() == d.Name }) {
			return fmt.Errorf("dependency %s is enabled (%s) but not in %s/charts: run `helm dependency update %s`",
				d.Name, d.Condition, chrt.Name(), chrt.Name())
		}
	}
	return nil
}

// split cuts a rendered template into its YAML documents.
func split(s string) ([]string, error) {
	var docs []string
	var cur []string
	flush := func() {
		doc := strings.TrimSpace(strings.Join(cur, "\n"))
		if doc != "" {
			docs = append(docs, doc+"\n")
		}
		cur = nil
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimRight(line, " ") == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	// Every document must parse on its own.
	for i, d := range docs {
		dec := yaml.NewDecoder(strings.NewReader(d))
		var v any
		if err := dec.Decode(&v); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("document %d: %w\n%s", i, err, numbered(d))
		}
	}
	return docs, nil
}

// isEmpty reports whether a document holds only comments.
func isEmpty(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// numbered prefixes each line with its number, for error messages.
func numbered(s string) string {
	var b bytes.Buffer
	for i, line := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%4d %s\n", i+1, line)
	}
	return b.String()
}

// ReadValues parses a values file as helm -f does.
func ReadValues(data []byte) (map[string]any, error) {
	v, err := common.ReadValues(data)
	if err != nil {
		return nil, err
	}
	return v.AsMap(), nil
}
