package handlers

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// snapshot is the receivers and the routes of one configuration. It is
// never changed once stored: Reload builds a new one and swaps the
// pointer, and a request loads the pointer once, when it starts, so it
// finishes with the configuration it started with, whole, however many
// reloads happen meanwhile (a request never sees a receiver of one
// configuration with the routes of another).
type snapshot struct {
	receivers map[string]*receiver
	// in is the intake with this configuration's routes and publish
	// timeout; its publisher, log and metrics are the server's.
	in *intake
}

// ReloadReport says what a Reload changed, for its log line.
type ReloadReport struct {
	// Added, Removed and Changed are receiver names, sorted. A receiver
	// is changed when any of its settings is, or the content of one of its
	// secret files.
	Added, Removed, Changed []string
	// RoutesChanged reports a change in the routing rules.
	RoutesChanged bool
	// PublishTimeoutChanged reports a change in http.publish_timeout.
	PublishTimeoutChanged bool
}

// Empty reports whether the reload changed nothing.
func (r ReloadReport) Empty() bool {
	return len(r.Added)+len(r.Removed)+len(r.Changed) == 0 && !r.RoutesChanged && !r.PublishTimeoutChanged
}

// Reload replaces the receivers, the routes, the body budget and the
// publish timeout with cfg's, at once for every request that starts
// after it returns; requests in flight finish with the configuration they
// started with. cfg is checked whole first, reading the secret files
// anew, and on any error nothing changes.
//
// What a receiver has learned survives the reload as long as the settings
// it depends on are unchanged: its rate-limit bucket (same rate_limit),
// the delivery ids it remembers against replays (same auth method,
// id header and window) and a fetched JWKS (same jwks_url). So a reload,
// or a rotated secret, neither refills a sender's bucket nor lets a
// delivery already accepted through again.
//
// max_in_flight is the size of the server's slots and cannot change: a
// cfg that changes it is refused.
func (s *Server) Reload(cfg Config) (ReloadReport, error) {
	if err := validate.Struct(cfg); err != nil {
		return ReloadReport{}, fmt.Errorf("http config: %w", err)
	}
	if n := cmp.Or(cfg.MaxInFlight, defaultMaxInFlight); n != s.cfg.MaxInFlight {
		return ReloadReport{}, fmt.Errorf("max_in_flight changed from %d to %d: it takes a restart", s.cfg.MaxInFlight, n)
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	old := s.snap.Load()
	sn, rep, err := s.build(cfg, old)
	if err != nil {
		return ReloadReport{}, err
	}
	rep.RoutesChanged = !reflect.DeepEqual(old.in.router.cfgs(), sn.in.router.cfgs())
	rep.PublishTimeoutChanged = old.in.publishTimeout != sn.in.publishTimeout
	s.snap.Store(sn)
	return rep, nil
}

// build checks cfg's receivers and routes and returns their snapshot,
// each receiver taking over the state of old's receiver of the same name
// where it can (old is nil at start). Every error is returned at once.
func (s *Server) build(cfg Config, old *snapshot) (*snapshot, ReloadReport, error) {
	var rep ReloadReport
	sn := &snapshot{receivers: make(map[string]*receiver, len(cfg.Receivers))}
	var errs []error
	for i, rc := range cfg.Receivers {
		r, err := newReceiver(i, rc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := sn.receivers[rc.Name]; dup {
			errs = append(errs, fmt.Errorf("receivers[%d] %q: defined twice", i, rc.Name))
			continue
		}
		r.maxBody = cmp.Or(rc.MaxBodyBytes, cfg.MaxBodyBytes)
		r.metrics = s.in.metrics.forReceiver(rc.Name)
		var prev *receiver
		if old != nil {
			prev = old.receivers[rc.Name]
		}
		switch {
		case prev == nil:
			if old != nil {
				rep.Added = append(rep.Added, rc.Name)
			}
		case !r.same(prev):
			rep.Changed = append(rep.Changed, rc.Name)
		}
		if prev == nil || !reflect.DeepEqual(prev.cfg.Auth, rc.Auth) {
			// Once per receiver and auth, not at every reload.
			warnWeakAuth(s.opts.Logger, rc)
		}
		if prev != nil {
			r.inherit(prev)
		}
		sn.receivers[rc.Name] = r
	}
	rt, err := newRouter(cfg.Routes)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, ReloadReport{}, err
	}
	if old != nil {
		for name := range old.receivers {
			if _, ok := sn.receivers[name]; !ok {
				rep.Removed = append(rep.Removed, name)
			}
		}
	}
	slices.Sort(rep.Added)
	slices.Sort(rep.Removed)
	slices.Sort(rep.Changed)
	base := s.in
	sn.in = &intake{pub: base.pub, log: base.log, metrics: base.metrics, router: rt, now: base.now, publishTimeout: cfg.PublishTimeout}
	return sn, rep, nil
}

// same reports whether r serves exactly as prev: the same settings, the
// same body budget and the same secrets (a secret file's content may have
// changed under the same name).
func (r *receiver) same(prev *receiver) bool {
	if !reflect.DeepEqual(r.cfg, prev.cfg) || r.maxBody != prev.maxBody {
		return false
	}
	a, ok1 := r.auth.(*authenticator)
	b, ok2 := prev.auth.(*authenticator)
	return ok1 && ok2 && a.secrets == b.secrets
}

// cfgs are the rules' settings, to compare two routers.
func (rt *router) cfgs() []RouteConfig {
	out := make([]RouteConfig, len(rt.rules))
	for i, ru := range rt.rules {
		out[i] = ru.cfg
	}
	return out
}

// inherit takes over prev's state where the settings it depends on are
// unchanged (see Reload).
func (r *receiver) inherit(prev *receiver) {
	if r.cfg.RateLimit == prev.cfg.RateLimit {
		r.limiter = prev.limiter
	}
	a, ok1 := r.auth.(*authenticator)
	b, ok2 := prev.auth.(*authenticator)
	if !ok1 || !ok2 || a.method != b.method {
		return
	}
	if a.ids != nil && b.ids != nil && a.idHeader == b.idHeader && a.ids.window == b.ids.window && a.ids.limit == b.ids.limit {
		a.ids = b.ids
	}
	// A fetched key set is kept for the same URL; a jwks_file is read
	// anew, since the file is what may have changed.
	ja, ok1 := a.check.(*jwtAuth)
	jb, ok2 := b.check.(*jwtAuth)
	if ok1 && ok2 && ja.keys.source == jb.keys.source && strings.HasPrefix(ja.keys.source, "jwks_url ") {
		ja.keys = jb.keys
	}
}
