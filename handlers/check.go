package handlers

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// TagError is a receiver's setting that fails its validate tag (an auth
// method that is none of the methods, a target without a region). It
// carries the validator's field error instead of a sentence, so that the
// caller words it like every other setting of its configuration (package
// config has the one table of those sentences and knows the deployment
// defaults a target's empty fields come from).
type TagError struct {
	// Receiver is the receiver's index in Config.Receivers.
	Receiver int
	// Setting is the key inside the receiver, as written in the
	// configuration: "auth.method", "target.project_id".
	Setting string
	Field   validator.FieldError
}

func (e *TagError) Error() string {
	return fmt.Sprintf("receivers[%d].%s: %q fails %s %s", e.Receiver, e.Setting, fmt.Sprint(e.Field.Value()), e.Field.Tag(), e.Field.Param())
}

// CheckConfig runs every check New runs on the receivers and the routes,
// and checks the routes' templates, without building a server: so that a
// bad receiver stops the bridge before it starts NATS or changes a
// stream, and so that bridge config check can say everything that is
// wrong without starting anything. It reads the receivers' secret files
// (and JWKS files), as New does.
//
// It returns one error per problem, each one line: a *TagError for a
// setting that fails its validate tag, and a sentence that starts with
// the receiver or route for the others. A receiver's target is checked as
// given: the caller fills its empty fields from its defaults first, as it
// does for New.
func CheckConfig(cfg Config) []error {
	var errs []error
	names := map[string]int{}
	for i, rc := range cfg.Receivers {
		auth, tagErrs := tagErrors(i, "auth", rc.Auth)
		errs = append(errs, tagErrs...)
		// The rest is checked with the failed fields zeroed, and without
		// the auth when its method failed: newReceiver would report each
		// again, an unknown method as "unknown auth method" and each of
		// its fields as not used by it. One typo, one line.
		if auth.Method == "" {
			auth = AuthConfig{Method: AuthNone}
		}
		rc.Auth = auth
		_, tagErrs = tagErrors(i, "target", rc.Target)
		errs = append(errs, tagErrs...)
		if _, err := newReceiver(i, rc); err != nil {
			for _, e := range oneLine(err) {
				// The target's tag failures are the TagErrors above.
				if fe := (*scanjob.FieldError)(nil); !errors.As(e, &fe) {
					errs = append(errs, e)
				}
			}
		}
		if first, dup := names[rc.Name]; dup {
			errs = append(errs, fmt.Errorf("receivers[%d] %q: defined twice (also receivers[%d])", i, rc.Name, first))
		} else {
			names[rc.Name] = i
		}
	}
	if _, err := newRouter(cfg.Routes); err != nil {
		errs = append(errs, oneLine(err)...)
	}
	return append(errs, checkTemplates(cfg.Routes)...)
}

// tagValidate names fields by their koanf keys, as the configuration
// does.
var tagValidate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		return name
	})
	return v
}()

// tagErrors validates v, the part at of receiver i, and returns v with
// every failed field zeroed, and a TagError per failed field.
func tagErrors[T any](i int, at string, v T) (T, []error) {
	var verrs validator.ValidationErrors
	if !errors.As(tagValidate.Struct(v), &verrs) {
		return v, nil
	}
	errs := make([]error, 0, len(verrs))
	rv := reflect.ValueOf(&v).Elem()
	for _, fe := range verrs {
		// "AuthConfig.method" → "auth.method"
		_, key, _ := strings.Cut(fe.Namespace(), ".")
		errs = append(errs, &TagError{Receiver: i, Setting: at + "." + key, Field: fe})
		if _, name, _ := strings.Cut(fe.StructNamespace(), "."); !strings.Contains(name, ".") {
			rv.FieldByName(name).SetZero()
		}
	}
	return v, errs
}

// oneLine splits the errors newReceiver and newRouter join into one error
// per problem, each keeping the prefix that names where it is
// ("receivers[0] "ci": auth: ..."), so a multi-line list reads as lines of
// their own.
func oneLine(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, oneLine(e)...)
		}
		return out
	}
	msg := err.Error()
	inner := errors.Unwrap(err)
	if inner == nil || !strings.Contains(msg, "\n") || !strings.HasSuffix(msg, inner.Error()) {
		return []error{err}
	}
	// err is fmt.Errorf("prefix: %w", inner) around a joined inner.
	prefix := strings.TrimSuffix(msg, inner.Error())
	var out []error
	for _, e := range oneLine(inner) {
		out = append(out, &prefixed{prefix: prefix, err: e})
	}
	return out
}

// prefixed is err with the words of the error it was wrapped in.
type prefixed struct {
	prefix string
	err    error
}

func (p *prefixed) Error() string { return p.prefix + p.err.Error() }
func (p *prefixed) Unwrap() error { return p.err }

// templateVars are the names every route template may use (route).
var templateVars = []string{"namespace", "image", "repository", "host", "receiver"}

// checkTemplates reports each variable of a route's namespace or image
// template that expands to nothing on every push: not one of
// templateVars, and no group of the route's match.repository_regexp. A
// typo there ("${ap}" for "${app}") would otherwise send every matching
// image to HSS under an empty or wrong name.
func checkTemplates(routes []RouteConfig) []error {
	var errs []error
	for i, c := range routes {
		re, _ := regexp.Compile(c.Match.RepositoryRegexp) // newRouter reports a bad one
		for _, t := range []struct{ key, tmpl string }{{"namespace", c.Namespace}, {"image", c.Image}} {
			expandVars(t.tmpl, func(name string) string {
				if !templateVarKnown(name, c.Match.RepositoryRegexp != "", re) {
					errs = append(errs, fmt.Errorf("routes[%d]: %s %q: ${%s} is no variable (%s) and no group of match.repository_regexp",
						i, t.key, t.tmpl, name, strings.Join(templateVars, ", ")))
				}
				return ""
			})
		}
	}
	return errs
}

func templateVarKnown(name string, hasRegexp bool, re *regexp.Regexp) bool {
	for _, v := range templateVars {
		if name == v {
			return true
		}
	}
	if !hasRegexp {
		return false
	}
	if re == nil {
		return true // a regexp that does not compile is newRouter's error
	}
	if n, err := strconv.Atoi(name); err == nil {
		return n >= 0 && n <= re.NumSubexp()
	}
	return re.SubexpIndex(name) >= 0
}
