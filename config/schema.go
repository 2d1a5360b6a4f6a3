package config

import (
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
)

// node is one key of the configuration, read off the koanf tags of Config
// and the types it is made of, so the set of valid keys is the set of
// fields and cannot drift from them.
type node struct {
	// path is the setting as written, "hss.calls_per_minute"; inside a
	// list it has "[]" for the index: "receivers[].auth.method".
	path string
	// name is the last key of path.
	name string
	typ  reflect.Type
	// index reaches the field from its parent struct (several steps
	// through a squashed embed).
	index []int
	// fields are a struct's keys in declaration order; byName finds them.
	fields []*node
	byName map[string]*node
	// elem is the item of a list of structs (receivers, routes), which
	// is given whole: in the file as a YAML list, in the environment as
	// JSON or YAML in one variable.
	elem *node
	// validate is the field's validate tag.
	validate string
}

func (n *node) isStruct() bool { return n.byName != nil }
func (n *node) isList() bool   { return n.elem != nil }
func (n *node) isLeaf() bool   { return !n.isStruct() && !n.isList() }

// env is the variable that sets the setting: BRIDGE_ + the path in upper
// case with "__" between levels. Settings inside a list have none of
// their own: the list's variable holds them.
func (n *node) env() string {
	if strings.Contains(n.path, "[]") || n.isStruct() {
		return ""
	}
	return envName(n.path)
}

func envName(path string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "__"))
}

var durationType = reflect.TypeFor[time.Duration]()

// schema is the tree of Config's keys, built once.
var schema = sync.OnceValue(func() *node {
	root := &node{typ: reflect.TypeFor[Config]()}
	fill(root, root.typ, nil)
	return root
})

// fill adds the koanf-tagged fields of struct type t to n; index leads
// from n's type to t (non-empty for a squashed embed).
func fill(n *node, t reflect.Type, index []int) {
	if n.byName == nil {
		n.byName = map[string]*node{}
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		idx := append(append([]int(nil), index...), i)
		if opts == "squash" {
			fill(n, f.Type, idx)
			continue
		}
		if name == "" || name == "-" {
			// koanf would match such a field by its Go name; every
			// setting has a tag instead (TestEverySettingHasATag).
			continue
		}
		c := &node{path: join(n.path, name), name: name, typ: f.Type, index: idx, validate: f.Tag.Get("validate")}
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type != durationType:
			fill(c, f.Type, nil)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			c.elem = &node{path: c.path + "[]", typ: f.Type.Elem()}
			fill(c.elem, f.Type.Elem(), nil)
		}
		n.fields = append(n.fields, c)
		n.byName[name] = c
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// lookup finds the node of a path as written, list indexes included
// ("receivers[2].auth.method"); nil when there is none.
func lookup(path string) *node {
	n := schema()
	for _, part := range strings.Split(path, ".") {
		name, indexed := part, false
		if i := strings.IndexByte(part, '['); i >= 0 {
			name, indexed = part[:i], true
		}
		if n = n.byName[name]; n == nil {
			return nil
		}
		if indexed {
			if n = n.elem; n == nil {
				return nil
			}
		}
	}
	return n
}

// walk visits every node below n, the lists' items included, depth
// first.
func (n *node) walk(visit func(*node)) {
	for _, c := range n.fields {
		visit(c)
		if c.isStruct() {
			c.walk(visit)
		}
		if c.isList() {
			c.elem.walk(visit)
		}
	}
}

// envSettings maps every variable that sets something to its node: each
// setting outside the lists, and each list's own variable.
var envSettings = sync.OnceValue(func() map[string]*node {
	m := map[string]*node{}
	schema().walk(func(n *node) {
		if (n.isLeaf() || n.isList()) && n.env() != "" {
			m[n.env()] = n
		}
	})
	return m
})

// sortedEnvNames are envSettings' keys in order, for suggestions.
var sortedEnvNames = sync.OnceValue(func() []string {
	names := make([]string, 0, len(envSettings()))
	for k := range envSettings() {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
})
