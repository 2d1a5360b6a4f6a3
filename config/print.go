package config

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Print writes the configuration path, the environment and override (the
// flags a command set; may be nil) add up to, as YAML: every setting, with
// the queue's defaults filled in as queue.Open fills them, each value
// followed by where it came from (default, file, env BRIDGE_..., flag).
// Secrets (secretSettings) are shown as [redacted] and the password of a
// NATS URL as xxxxx: the output is meant to be pasted into a ticket. It
// refuses a configuration with unknown keys or values of the wrong type,
// whose meaning is unclear, but prints one that fails Validate: bridge
// config check says what is wrong with it.
func Print(w io.Writer, path string, environ func() []string, override func(*Config)) error {
	l, err := read(path, environ)
	if err != nil {
		return err
	}
	if len(l.problems) > 0 {
		return invalid(l.problems)
	}
	cfg := l.cfg
	if override != nil {
		override(&cfg)
	}
	p := &printer{set: l.set, flagged: map[string]bool{}}
	changed(schema(), "", reflect.ValueOf(l.cfg), reflect.ValueOf(cfg), p.flagged)
	cfg = effective(cfg)
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{p.mapping(schema(), reflect.ValueOf(cfg), "")}}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	return enc.Close()
}

// effective fills the defaults the parts apply to zero settings when they
// start, as they apply them: the queue's (queue.Open), the NATS intake's,
// and the shared rate limit's bucket and the lifecycle's bucket and
// result stream, whose replicas follow the job stream's
// (scanner.HSS.UseSharedLimit, LifecycleConfig.Store).
func effective(c Config) Config {
	c.Queue = c.Queue.WithDefaults()
	c.NATS.Intake = c.NATS.Intake.WithDefaults()
	if c.HSS.LimitKV.Replicas == 0 {
		c.HSS.LimitKV.Replicas = c.Queue.Stream.Replicas
	}
	c.HSS.LimitKV = c.HSS.LimitKV.WithDefaults()
	if c.Lifecycle.Replicas == 0 {
		c.Lifecycle.Replicas = c.Queue.Stream.Replicas
	}
	if c.Lifecycle.Results.Replicas == 0 {
		c.Lifecycle.Results.Replicas = c.Queue.Stream.Replicas
	}
	return c
}

// changed marks in flagged each setting below n whose value differs
// between before and after (what override changed: the flags).
func changed(n *node, at string, before, after reflect.Value, flagged map[string]bool) {
	for _, c := range n.fields {
		b, a := before.FieldByIndex(c.index), after.FieldByIndex(c.index)
		path := join(at, c.name)
		if c.isStruct() {
			changed(c, path, b, a, flagged)
			continue
		}
		if !reflect.DeepEqual(b.Interface(), a.Interface()) {
			flagged[path] = true
		}
	}
}

type printer struct {
	set     map[string]string
	flagged map[string]bool
}

// source says where the value of the setting written as path came from.
func (p *printer) source(path string) string {
	switch origin := p.set[path]; {
	case p.flagged[path]:
		return "flag"
	case origin == fromFile:
		return "file"
	case origin != "":
		return "env " + origin
	}
	return "default"
}

// mapping is struct node n holding v, written at at.
func (p *printer) mapping(n *node, v reflect.Value, at string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, c := range n.fields {
		fv := v.FieldByIndex(c.index)
		path := join(at, c.name)
		key := &yaml.Node{Kind: yaml.ScalarNode, Value: c.name}
		var val *yaml.Node
		switch {
		case c.isStruct():
			val = p.mapping(c, fv, path)
		case c.isList():
			val = &yaml.Node{Kind: yaml.SequenceNode}
			for i := range fv.Len() {
				val.Content = append(val.Content, p.mapping(c.elem, fv.Index(i), fmt.Sprintf("%s[%d]", path, i)))
			}
			if fv.Len() == 0 {
				val.Style = yaml.FlowStyle
				val.LineComment = p.source(path)
			} else {
				key.LineComment = p.source(path)
			}
		default:
			val = scalar(c, fv)
			val.LineComment = p.source(path)
		}
		m.Content = append(m.Content, key, val)
	}
	return m
}

// scalar is leaf n's value v, a secret redacted.
func scalar(n *node, v reflect.Value) *yaml.Node {
	out := &yaml.Node{}
	switch {
	case v.Kind() == reflect.Slice:
		out.Kind, out.Style = yaml.SequenceNode, yaml.FlowStyle
		for i := range v.Len() {
			out.Content = append(out.Content, scalar(n, v.Index(i)))
		}
		return out
	case n.secret() && !v.IsZero():
		_ = out.Encode(redacted)
	case urlSettings[n.path]:
		_ = out.Encode(redactURLs(v.String()))
	case v.Type() == durationType:
		_ = out.Encode(durationString(time.Duration(v.Int())))
	default:
		// Encoding a string, number or bool cannot fail.
		_ = out.Encode(v.Interface())
	}
	return out
}

// durationString is d as the README writes durations: 168h, 5m, 1h30m,
// not time.Duration's 168h0m0s.
func durationString(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
