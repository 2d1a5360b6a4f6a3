package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/v2"
)

// fromFile marks a value set in the configuration file.
const fromFile = "file"

// loaded is a configuration read from the file and the environment over
// the defaults: the result, where each value was set and what was wrong.
type loaded struct {
	cfg Config
	// set maps each key written in the file or the environment, as
	// written ("hss.region", "receivers", "receivers[0].auth.method"), to
	// where: fromFile or the variable's name. The environment wins.
	set map[string]string
	// problems are the unknown keys and the values that are not of their
	// setting's type, one line each; the rest of the configuration is
	// read without them.
	problems []string
}

// read reads path (may be empty) and the BRIDGE_* variables of environ
// over Default. Every key is checked against the settings (schema.go):
// an unknown key, or a value that is not of its setting's type, is a
// problem, left out so that the rest can be read and checked as well.
// The error is for a file that cannot be read or parsed.
func read(path string, environ func() []string) (*loaded, error) {
	l := &loaded{set: map[string]string{}}
	var file map[string]any
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if file, err = yaml.Parser().Unmarshal(b); err != nil {
			return nil, fmt.Errorf("read config %s: %w", path, err)
		}
		file = l.checkStruct(schema(), "", file, fromFile, "")
	}
	env := l.readEnv(environ())

	k := koanf.New(".")
	for _, m := range []map[string]any{file, env} {
		if err := k.Load(mapProvider(m), nil); err != nil {
			return nil, fmt.Errorf("merge config: %w", err) // a map with no delimiter in its keys cannot fail
		}
	}
	l.cfg = Default()
	if err := k.UnmarshalWithConf("", &l.cfg, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		// Every value was decoded on its own above; this is a bug.
		l.problems = append(l.problems, fmt.Sprintf("config: %v", err))
	}
	return l, nil
}

// mapProvider gives koanf a map that is already checked.
type mapProvider map[string]any

func (m mapProvider) ReadBytes() ([]byte, error) { return nil, errors.New("mapProvider has no bytes") }
func (m mapProvider) Read() (map[string]any, error) {
	if m == nil {
		return map[string]any{}, nil
	}
	return m, nil
}

// checkStruct checks m, the keys written under struct node n at the
// written path at, and returns the keys that are settings with values of
// their type. origin is fromFile or a variable's name; where names the
// variable in messages about the items of a list it holds.
func (l *loaded) checkStruct(n *node, at string, m map[string]any, origin, where string) map[string]any {
	out := make(map[string]any, len(m))
	for _, key := range sortedKeys(m) {
		v := m[key]
		c := n.byName[key]
		if c == nil {
			l.problems = append(l.problems, where+unknownKey(n, at, key))
			continue
		}
		path := join(at, key)
		switch {
		case c.isStruct():
			if v == nil {
				continue // "http:" with nothing under it
			}
			sub, ok := asMap(v)
			if !ok {
				l.problems = append(l.problems, where+problem(c, path, fmt.Sprintf("%s is not a mapping of settings", show(c, v))))
				continue
			}
			out[key] = l.checkStruct(c, path, sub, origin, where)
		case c.isList():
			items, ok := l.checkList(c, path, v, origin, where)
			if !ok {
				continue
			}
			out[key] = items
		default:
			if err := decodeLeaf(v, c.typ); err != nil {
				l.problems = append(l.problems, where+problem(c, path, notA(c, v)))
				continue
			}
			out[key] = v
		}
		l.set[path] = origin
	}
	return out
}

// checkList checks the items written for list node n.
func (l *loaded) checkList(n *node, at string, v any, origin, where string) ([]any, bool) {
	if v == nil {
		return []any{}, true
	}
	items, ok := v.([]any)
	if !ok {
		l.problems = append(l.problems, where+problem(n, at, fmt.Sprintf("%s is not a list", show(n, v))))
		return nil, false
	}
	out := make([]any, 0, len(items))
	for i, item := range items {
		path := fmt.Sprintf("%s[%d]", at, i)
		m, ok := asMap(item)
		if !ok {
			l.problems = append(l.problems, fmt.Sprintf("%s%s: %s is not a mapping of settings", where, path, show(nil, item)))
			m = map[string]any{} // keep the indexes of the items after it
		}
		out = append(out, l.checkStruct(n.elem, path, m, origin, where))
	}
	return out, true
}

// ignoredEnv are BRIDGE_* variables that are no settings of the bridge
// and are not refused:
//   - those Kubernetes adds to every container for a Service named
//     "bridge" in the namespace, unless the pod sets enableServiceLinks:
//     false as the chart's does
//     (https://kubernetes.io/docs/concepts/services-networking/service/#environment-variables);
//   - those deploy/compose.yaml reads on the host (BRIDGE_IMAGE,
//     BRIDGE_1_PORT, BRIDGE_2_PORT, see docs/deployment.md), which a
//     shell may still export when it starts a bridge.
//
// BRIDGE_NATS_PASSWORD, the NATS chart's variable in
// deploy/helm/scan-bridge/values.yaml, is refused: it reads too much like
// a setting (nats.password_file) to be passed over in silence.
var ignoredEnv = regexp.MustCompile(`^BRIDGE_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[A-Z0-9_]+)?|IMAGE|[0-9]+_PORT)$`)

// readEnv checks the BRIDGE_* variables of environ and returns what they
// set, as a koanf map.
func (l *loaded) readEnv(environ []string) map[string]any {
	out := map[string]any{}
	environ = slices.Sorted(slices.Values(environ))
	for _, kv := range environ {
		name, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || ignoredEnv.MatchString(name) {
			continue
		}
		n := envSettings()[name]
		if n == nil {
			l.problems = append(l.problems, unknownEnv(name))
			continue
		}
		if n.isList() {
			// A list of structs cannot be spelled as flat variables: the
			// variable holds the whole list as JSON (or YAML).
			m, err := yaml.Parser().Unmarshal([]byte("list: " + v))
			if err != nil {
				l.problems = append(l.problems, fmt.Sprintf("%s (%s): not a JSON or YAML list: %v", name, n.path, err))
				continue
			}
			// The variable replaces the file's list whole.
			for k := range l.set {
				if k == n.path || strings.HasPrefix(k, n.path+"[") {
					delete(l.set, k)
				}
			}
			items, ok := l.checkList(n, n.path, m["list"], name, name+": ")
			if !ok {
				continue
			}
			setPath(out, n.path, items) // nested: a list may sit below the top (notify.webhooks)
			l.set[n.path] = name
			continue
		}
		if err := decodeLeaf(v, n.typ); err != nil {
			l.problems = append(l.problems, fmt.Sprintf("%s (%s): %s", name, n.path, notA(n, v)))
			continue
		}
		setPath(out, n.path, v)
		l.set[n.path] = name
	}
	return out
}

// setPath sets the dotted path in a nested map.
func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = v
}

// decodeLeaf decodes v into a value of type t the way koanf decodes the
// whole configuration, so that a value it would refuse is found, and
// named, on its own.
func decodeLeaf(v any, t reflect.Type) error {
	k := koanf.New(".")
	if err := k.Set("v", v); err != nil {
		return err
	}
	holder := reflect.New(reflect.StructOf([]reflect.StructField{{Name: "V", Type: t, Tag: `koanf:"v"`}}))
	return k.UnmarshalWithConf("", holder.Interface(), koanf.UnmarshalConf{Tag: "koanf"})
}

// notA words a value that is not of its setting's type.
func notA(n *node, v any) string {
	want := "a valid " + n.typ.String()
	switch {
	case n.typ == durationType:
		want = "a duration such as 300ms, 5s or 168h"
	case n.typ.Kind() == reflect.Bool:
		want = "true or false"
	case n.typ.Kind() >= reflect.Int && n.typ.Kind() <= reflect.Uint64:
		want = "a whole number"
	case n.typ.Kind() == reflect.Float32 || n.typ.Kind() == reflect.Float64:
		want = "a number"
	case n.typ.Kind() == reflect.String:
		want = "a string"
	case n.typ.Kind() == reflect.Slice:
		want = "a list"
	}
	return fmt.Sprintf("%s is not %s", show(n, v), want)
}

// show quotes a value as written, unless it is a secret.
func show(n *node, v any) string {
	if n != nil && n.secret() {
		return redacted
	}
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case map[string]any, map[any]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprint(v)
}

// asMap returns a YAML mapping as map[string]any.
func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
