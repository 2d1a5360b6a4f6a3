package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/go-playground/validator/v10"

	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/queue"
)

// validate reports fields by their koanf names, as the user writes them.
// A squashed embed (natsconn.Config in nats) keeps its Go name, which
// settingPath leaves out.
var validate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, opts, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if opts == "squash" {
			return f.Name
		}
		return name
	})
	return v
}()

// problems is every problem of c, one line each, in the order: settings,
// the queue's and NATS's own checks, the admin token file, receivers and
// routes.
func (c Config) problems() []string {
	var lines []string
	reported := map[string]bool{}
	var verrs validator.ValidationErrors
	if err := validate.Struct(c); errors.As(err, &verrs) {
		for _, fe := range verrs {
			path := settingPath(fe.Namespace())
			reported[path] = true
			lines = append(lines, fieldProblem(path, fe))
		}
	} else if err != nil {
		lines = append(lines, err.Error())
	}
	for _, e := range split(c.Queue.WithDefaults().Validate()) {
		// queue's lines start with the key under queue: "stream.name ...".
		lines = append(lines, annotate("queue", strings.TrimPrefix(e.Error(), queue.ErrInvalidConfig.Error()+": ")))
	}
	for _, e := range split(c.HSS.Watch.Check()) {
		lines = append(lines, annotate("", e.Error()))
	}
	for _, e := range split(c.NATS.Config.Validate()) {
		lines = append(lines, annotate("", e.Error()))
	}
	if _, err := c.Admin.Tokens(); err != nil {
		lines = append(lines, annotate("", err.Error()))
	}
	if _, port, _ := net.SplitHostPort(c.Admin.Listen); c.Admin.Listen == c.HTTP.Listen && port != "" && port != "0" {
		lines = append(lines, fmt.Sprintf("admin.listen (BRIDGE_ADMIN__LISTEN): %q is http.listen too; the admin listener needs an address of its own, away from the webhooks", c.Admin.Listen))
	}
	lines = append(lines, c.lifecycleProblems(reported)...)
	lines = append(lines, c.presenceProblems()...)
	lines = append(lines, c.notifyProblems()...)
	return append(lines, c.receiverProblems(reported)...)
}

// minPresenceTimeout is the least receivers[].presence_timeout: a shorter
// wait gives a replicated image up before one list call and one sync can
// have seen it.
const minPresenceTimeout = time.Minute

// presenceProblems checks each receiver's presence_timeout: 0 (the
// default, 30m) or at least a minute, and shorter than
// queue.stream.max_age, after which the job stream deletes a job that is
// still waiting, so it would vanish instead of being given up.
func (c Config) presenceProblems() []string {
	var lines []string
	maxAge := c.Queue.WithDefaults().Stream.MaxAge
	for i, r := range c.Receivers {
		d := r.PresenceTimeout
		if d == 0 {
			continue
		}
		path := fmt.Sprintf("receivers[%d].presence_timeout", i)
		n := lookup(path)
		switch {
		case d < minPresenceTimeout:
			lines = append(lines, problem(n, path, fmt.Sprintf("%s is below the minimum %s (0 takes the default, 30m)",
				durationString(d), durationString(minPresenceTimeout))))
		case d >= maxAge:
			lines = append(lines, problem(n, path, fmt.Sprintf("%s must be below queue.stream.max_age (%s): the stream deletes a job that waits longer",
				durationString(d), durationString(maxAge))))
		}
	}
	return lines
}

// fieldProblem words a field that fails its validate tag.
func fieldProblem(path string, fe validator.FieldError) string {
	n := lookup(path)
	if n == nil {
		// Not a setting (a field without a koanf tag): say it plainly.
		return fmt.Sprintf("%s: %v breaks the rule %s %s", path, fe.Value(), fe.Tag(), fe.Param())
	}
	return problem(n, path, sentence(n, fe.Tag(), fe.Param(), fe.Value()))
}

// settingPath turns validator's "Config.nats.Config.url" into "nats.url":
// the root type and squashed embeds (Go names, upper case, which no key
// is) are no part of the key.
func settingPath(ns string) string {
	parts := strings.Split(ns, ".")[1:]
	out := parts[:0]
	for _, p := range parts {
		if p != "" && !unicode.IsUpper(rune(p[0])) {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// split returns the errors a Validate joined, one per problem.
func split(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// annotate adds the variable after the setting a message of another
// package starts with ("stream.name ..." under queue becomes
// "queue.stream.name (BRIDGE_QUEUE__STREAM__NAME) ..."); a message that
// starts otherwise gets the prefix alone.
func annotate(prefix, msg string) string {
	key, _, _ := strings.Cut(msg, " ")
	key = strings.TrimSuffix(key, ":")
	path := join(prefix, key)
	if n := lookup(path); n != nil && n.isLeaf() && n.env() != "" {
		return path + " (" + n.env() + ")" + strings.TrimPrefix(msg, key)
	}
	if prefix == "" {
		return msg
	}
	return prefix + ": " + msg
}

// receiverProblems checks the receivers and routes with the webhook
// server's own checks, the receivers' targets filled from the hss
// section first as serve fills them. A target field a receiver leaves
// empty takes the hss default: when that fails, it is reported once,
// under hss, naming the receivers that rely on it, instead of once per
// receiver (and not at all when the hss setting was already reported).
func (c Config) receiverProblems(reported map[string]bool) []string {
	recvs := make([]handlers.ReceiverConfig, len(c.Receivers))
	for i, r := range c.Receivers {
		r.Target = c.HSS.FillTarget(r.Target)
		recvs[i] = r
	}
	var lines []string
	// fromDefault is one hss setting that fails for the receivers named.
	type fromDefault struct {
		line, key string
		names     []string
	}
	var defaults []*fromDefault
	byLine := map[string]*fromDefault{}
	for _, err := range handlers.CheckConfig(handlers.Config{MaxBodyBytes: c.HTTP.MaxBodyBytes, Receivers: recvs, Routes: c.Routes}) {
		var te *handlers.TagError
		if !errors.As(err, &te) {
			lines = append(lines, err.Error())
			continue
		}
		key, inTarget := strings.CutPrefix(te.Setting, "target.")
		if !inTarget || ownTargetField(c.Receivers[te.Receiver], key) != "" {
			lines = append(lines, fieldProblem(fmt.Sprintf("receivers[%d].%s", te.Receiver, te.Setting), te.Field))
			continue
		}
		if reported["hss."+key] {
			continue
		}
		line := hssDefaultProblem(key, te.Field)
		d := byLine[line]
		if d == nil {
			d = &fromDefault{line: line, key: key}
			byLine[line] = d
			defaults = append(defaults, d)
		}
		d.names = append(d.names, strconv.Quote(c.Receivers[te.Receiver].Name))
	}
	for _, d := range defaults {
		who := "receiver " + d.names[0] + " sets"
		if len(d.names) > 1 {
			who = "receivers " + strings.Join(d.names, ", ") + " set"
		}
		lines = append(lines, fmt.Sprintf("%s (%s no target.%s)", d.line, who, d.key))
	}
	return lines
}

// ownTargetField is the receiver's own value of a target field, before
// the hss defaults fill it.
func ownTargetField(r handlers.ReceiverConfig, key string) string {
	n := lookup("receivers[0].target." + key)
	if n == nil {
		return ""
	}
	return fmt.Sprint(reflect.ValueOf(r.Target).FieldByIndex(n.index).Interface())
}

// hssDefaultProblem words a target field that fails its tag with the
// value of hss.<key> (or, for the project, HUAWEICLOUD_SDK_PROJECT_ID).
func hssDefaultProblem(key string, fe validator.FieldError) string {
	path := "hss." + key
	n := lookup(path)
	if n == nil {
		return fieldProblem("receivers[0].target."+key, fe)
	}
	what := sentence(n, fe.Tag(), fe.Param(), fe.Value())
	if key == "project_id" && fe.Tag() == "required" && os.Getenv("HUAWEICLOUD_SDK_PROJECT_ID") == "" {
		what = "is required, here or in HUAWEICLOUD_SDK_PROJECT_ID"
	}
	return problem(n, path, what)
}
