package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// rules words each validate tag the settings use, typed by the field: a
// duration's limit in duration units, a byte count's in KiB or MiB, a
// string's in characters. One table for every setting, receivers' and
// routes' included. TestEveryTagIsWorded checks that each tag on a
// setting has a sentence here.
var rules = map[string]func(v value, param string) string{
	"required": func(value, string) string { return "is required" },
	"min":      atLeast,
	"gte":      atLeast,
	"max":      atMost,
	"lte":      atMost,
	"gt": func(v value, p string) string {
		return fmt.Sprintf("%s must be above %s", v, v.param(p))
	},
	"lt": func(v value, p string) string {
		return fmt.Sprintf("%s must be below %s", v, v.param(p))
	},
	"oneof": func(v value, p string) string {
		return fmt.Sprintf("%s is not one of %s", v, strings.Join(strings.Fields(p), ", "))
	},
}

func atLeast(v value, p string) string {
	switch v.v.Kind() {
	case reflect.String:
		return fmt.Sprintf("%s is %d characters, below the minimum %s", v, utf8.RuneCountInString(v.v.String()), p)
	case reflect.Slice:
		return fmt.Sprintf("has %d items, below the minimum %s", v.v.Len(), p)
	}
	return fmt.Sprintf("%s is below the minimum %s", v, v.param(p))
}

func atMost(v value, p string) string {
	switch v.v.Kind() {
	case reflect.String:
		return fmt.Sprintf("%s is %d characters, above the maximum %s", v, utf8.RuneCountInString(v.v.String()), p)
	case reflect.Slice:
		return fmt.Sprintf("has %d items, above the maximum %s", v.v.Len(), p)
	}
	return fmt.Sprintf("%s is above the maximum %s", v, v.param(p))
}

// tagOptions are validate tag words that are no rule of their own.
var tagOptions = map[string]bool{"omitempty": true, "dive": true}

// sentence words the failure of tag (with its param) for setting n
// holding v: `500ms is below the minimum 1s`.
func sentence(n *node, tag, param string, v any) string {
	val := value{n: n, v: reflect.ValueOf(v)}
	if r, ok := rules[tag]; ok {
		return r(val, param)
	}
	return fmt.Sprintf("%s breaks the rule %s %s", val, tag, param)
}

// problem is one line about setting n (written as at): the setting, its
// variable when it has one, and what is wrong.
func problem(n *node, at, what string) string {
	if env := n.env(); env != "" {
		return fmt.Sprintf("%s (%s): %s", at, env, what)
	}
	return at + ": " + what
}

// value is a setting's value shown in the user's terms.
type value struct {
	n *node
	v reflect.Value
}

func (v value) String() string {
	if !v.v.IsValid() {
		return `""`
	}
	if v.n != nil && v.n.secret() {
		return redacted
	}
	switch {
	case v.v.Type() == durationType:
		return durationString(time.Duration(v.v.Int()))
	case v.bytes() && v.v.CanInt():
		return bytesString(v.v.Int())
	}
	switch v.v.Kind() {
	case reflect.String:
		return strconv.Quote(v.v.String())
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.v.Float(), 'f', -1, 64)
	}
	return fmt.Sprint(v.v.Interface())
}

// param shows a rule's limit in the units of the value: validator reads
// a duration's limit as a Go duration or as nanoseconds.
func (v value) param(p string) string {
	switch {
	case v.v.IsValid() && v.v.Type() == durationType:
		if d, err := time.ParseDuration(p); err == nil {
			return durationString(d)
		}
		if ns, err := strconv.ParseInt(p, 10, 64); err == nil {
			return durationString(time.Duration(ns))
		}
	case v.bytes():
		if b, err := strconv.ParseInt(p, 10, 64); err == nil {
			return bytesString(b)
		}
	}
	return p
}

// bytes reports whether the setting counts bytes (max_body_bytes, ...).
func (v value) bytes() bool { return v.n != nil && strings.HasSuffix(v.n.name, "_bytes") }

// bytesString shows a byte count in the largest binary unit it is a
// whole number of: 1 KiB, 8 MiB, 1500 bytes.
func bytesString(b int64) string {
	switch {
	case b != 0 && b%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", b>>30)
	case b != 0 && b%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", b>>20)
	case b != 0 && b%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", b>>10)
	case b == 1:
		return "1 byte"
	}
	return fmt.Sprintf("%d bytes", b)
}
