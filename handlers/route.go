package handlers

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/scan-bridge/scan-bridge/handlers/formats"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// RouteConfig is one routing rule. Rules are tried in order and the first
// whose every set condition matches decides: drop the push, or scan it,
// optionally under another SWR namespace, image name or HSS target. A push
// no rule matches is scanned as the receiver says (namespace = first path
// segment of the repository).
//
// Registries replicate: an image built in CI lands in GHCR or Harbor and is
// replicated into SWR under another organization. Routing maps the name the
// sender reports to the name HSS knows.
type RouteConfig struct {
	// Match conditions; empty ones match everything.
	Match RouteMatch `koanf:"match" json:"match"`
	// Action is scan (default) or drop.
	Action string `koanf:"action" json:"action,omitempty"`
	// Namespace and Image rewrite the SWR namespace and image name. They
	// may use ${namespace}, ${image}, ${repository}, ${host}, ${receiver},
	// and $1, ${2}, ${name} for groups of match.repository_regexp.
	Namespace string `koanf:"namespace" json:"namespace,omitempty"`
	Image     string `koanf:"image" json:"image,omitempty"`
	// Target overrides the receiver's HSS target field by field.
	Target scanjob.Target `koanf:"target" json:"target,omitzero"`
	// InstanceID and InstanceURL override the SWR Enterprise instance.
	InstanceID  string `koanf:"instance_id" json:"instance_id,omitempty"`
	InstanceURL string `koanf:"instance_url" json:"instance_url,omitempty"`
}

// RouteMatch selects pushes. Globs use path.Match syntax ('*' does not
// cross '/'); a repository glob "team/*" matches team/app but not
// team/sub/app, "team/*/*" does.
type RouteMatch struct {
	Receiver         string `koanf:"receiver" json:"receiver,omitempty"`
	Host             string `koanf:"host" json:"host,omitempty"`
	Namespace        string `koanf:"namespace" json:"namespace,omitempty"`
	Repository       string `koanf:"repository" json:"repository,omitempty"`
	RepositoryRegexp string `koanf:"repository_regexp" json:"repository_regexp,omitempty"`
}

// Route actions.
const (
	ActionScan = "scan"
	ActionDrop = "drop"
)

// rule is a checked RouteConfig.
type rule struct {
	index int
	cfg   RouteConfig
	re    *regexp.Regexp
}

// router applies the rules in order.
type router struct{ rules []rule }

// newRouter checks every rule and reports every error at once, each
// naming its rule by position.
func newRouter(cfgs []RouteConfig) (*router, error) {
	r := &router{}
	var errs []error
	for i, c := range cfgs {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("routes[%d]: "+format, append([]any{i}, args...)...))
		}
		for name, glob := range map[string]string{"receiver": c.Match.Receiver, "host": c.Match.Host,
			"namespace": c.Match.Namespace, "repository": c.Match.Repository} {
			if _, err := path.Match(glob, ""); err != nil {
				bad("match.%s %q: %v", name, glob, err)
			}
		}
		ru := rule{index: i, cfg: c}
		if c.Match.RepositoryRegexp != "" {
			re, err := regexp.Compile(c.Match.RepositoryRegexp)
			if err != nil {
				bad("match.repository_regexp: %v", err)
			}
			ru.re = re
		}
		switch c.Action {
		case "", ActionScan:
			ru.cfg.Action = ActionScan
		case ActionDrop:
			if c.Namespace != "" || c.Image != "" || c.Target != (scanjob.Target{}) {
				bad("a drop rule rewrites nothing; remove namespace, image and target")
			}
		default:
			bad("action %q: use scan or drop", c.Action)
		}
		if c.Target.ImageType != "" && c.Target.ImageType != scanjob.PrivateImage &&
			c.Target.ImageType != scanjob.SharedImage && c.Target.ImageType != scanjob.InstanceImage {
			bad("target.image_type %q: use private_image, shared_image or instance_image", c.Target.ImageType)
		}
		r.rules = append(r.rules, ru)
	}
	return r, errors.Join(errs...)
}

// Decision says what routing made of one push.
type Decision struct {
	// Rule is the index of the matching rule, -1 when none matched.
	Rule int `json:"rule"`
	// Action is scan or drop.
	Action string `json:"action"`
}

// route applies the first matching rule to job (already normalized with
// the receiver's defaults). It returns the routed job and the decision.
func (r *router) route(receiver string, p formats.Push, job scanjob.Job) (scanjob.Job, Decision) {
	for _, ru := range r.rules {
		groups, ok := ru.matches(receiver, p, job)
		if !ok {
			continue
		}
		d := Decision{Rule: ru.index, Action: ru.cfg.Action}
		if d.Action == ActionDrop {
			return job, d
		}
		vars := map[string]string{"namespace": job.Namespace, "image": job.Image,
			"repository": p.Repository, "host": p.Host, "receiver": receiver}
		if ru.cfg.Namespace != "" {
			job.Namespace = expand(ru.cfg.Namespace, vars, groups, ru.re)
		}
		if ru.cfg.Image != "" {
			job.Image = expand(ru.cfg.Image, vars, groups, ru.re)
		}
		t := ru.cfg.Target
		job.Target.Region = cmp.Or(t.Region, job.Target.Region)
		job.Target.ProjectID = cmp.Or(t.ProjectID, job.Target.ProjectID)
		job.Target.EnterpriseProjectID = cmp.Or(t.EnterpriseProjectID, job.Target.EnterpriseProjectID)
		if t.ImageType != "" {
			job.Target.ImageType = t.ImageType
		}
		job.InstanceID = cmp.Or(ru.cfg.InstanceID, job.InstanceID)
		job.InstanceURL = cmp.Or(ru.cfg.InstanceURL, job.InstanceURL)
		return job, d
	}
	return job, Decision{Rule: -1, Action: ActionScan}
}

func (ru rule) matches(receiver string, p formats.Push, job scanjob.Job) ([]string, bool) {
	m := ru.cfg.Match
	for _, c := range [][2]string{{m.Receiver, receiver}, {m.Host, p.Host}, {m.Namespace, job.Namespace}, {m.Repository, p.Repository}} {
		if c[0] == "" {
			continue
		}
		if ok, _ := path.Match(c[0], c[1]); !ok {
			return nil, false
		}
	}
	if ru.re == nil {
		return nil, true
	}
	groups := ru.re.FindStringSubmatch(p.Repository)
	return groups, groups != nil
}

// expand fills a template: named variables first, then regexp groups by
// number or name.
func expand(tmpl string, vars map[string]string, groups []string, re *regexp.Regexp) string {
	return expandVars(tmpl, func(name string) string {
		if v, ok := vars[name]; ok {
			return v
		}
		if n, err := strconv.Atoi(name); err == nil {
			if n < len(groups) {
				return groups[n]
			}
			return ""
		}
		if re != nil {
			if i := re.SubexpIndex(name); i >= 0 && i < len(groups) {
				return groups[i]
			}
		}
		return ""
	})
}

// expandVars replaces $name and ${name}. It is os.Expand without the shell
// special cases ($*, $@, ...), which have no meaning here.
func expandVars(s string, mapping func(string) string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] == '{' {
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				b.WriteString(s[i:])
				break
			}
			b.WriteString(mapping(s[i+2 : i+2+end]))
			i += 2 + end
			continue
		}
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= '0' && s[j] <= '9' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
			j++
		}
		if j == i+1 {
			b.WriteByte('$')
			continue
		}
		b.WriteString(mapping(s[i+1 : j]))
		i = j - 1
	}
	return b.String()
}

// Explanation is what a body would become at a receiver, for `bridge route`.
type Explanation struct {
	Receiver string         `json:"receiver"`
	Format   string         `json:"format"`
	Jobs     []ExplainedJob `json:"jobs"`
	Skipped  []SkipAnswer   `json:"skipped,omitempty"`
	Errors   []string       `json:"errors,omitempty"`
	Reply    any            `json:"reply,omitempty"`
}

// ExplainedJob is one job a body would store, and the rule that shaped it.
type ExplainedJob struct {
	ID       string      `json:"id"`
	Job      scanjob.Job `json:"job"`
	Decision Decision    `json:"route"`
}

// Explain runs a body through decode, normalize, route and validate
// without authenticating it or storing anything: the tool a user runs
// while wiring a registry.
func (s *Server) Explain(receiver string, h http.Header, body []byte) (Explanation, error) {
	sn := s.snap.Load()
	r, ok := sn.receivers[receiver]
	if !ok {
		return Explanation{}, fmt.Errorf("no receiver named %q", receiver)
	}
	p, err := sn.in.plan(r, h, body)
	if tooMany := (*tooManyEventsError)(nil); errors.As(err, &tooMany) {
		return Explanation{}, fmt.Errorf("the bridge would answer 413: %w", err)
	}
	if err != nil {
		return Explanation{}, fmt.Errorf("body is not a %s event: %w", r.cfg.Format, err)
	}
	e := Explanation{Receiver: receiver, Format: r.cfg.Format, Skipped: p.skipped, Errors: p.errors, Reply: p.reply, Jobs: []ExplainedJob{}}
	for _, pj := range p.jobs {
		e.Jobs = append(e.Jobs, ExplainedJob{ID: pj.job.ID(), Job: pj.job, Decision: pj.decision})
	}
	return e, nil
}
