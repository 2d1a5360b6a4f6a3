package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/admin"
	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// Reloading the configuration of a running bridge (docs/operations.md,
// "Reloading configuration"): on SIGHUP, and when a secret file the
// configuration names changes, the bridge reads the whole configuration
// again as at start (file, BRIDGE_* variables, the serve flags), checks it
// as bridge config check does, and only then applies it: the receivers,
// the routes, their secrets, http.max_body_bytes, http.publish_timeout
// and log.level (config.Reloadable). A configuration that fails a check,
// or changes anything only a restart applies, is refused whole and the
// running one kept; the reason is logged at ERROR and counted.

// configSource reads the configuration again as the bridge read it at
// start, with every check of bridge config check.
type configSource func() (config.Config, error)

// reloadDebounce is how long the secret files must be quiet before they
// are read: Kubernetes updates a mounted Secret in several steps (new
// timestamped directory, ..data symlink swap, old directory removed), and
// an editor may write a file twice.
const reloadDebounce = 500 * time.Millisecond

// reloader applies re-read configurations to a running bridge, one at a
// time.
type reloader struct {
	log *slog.Logger
	srv *handlers.Server
	// targets are the HSS targets the consumer was started with
	// (queue.AllowTargets): it sends no other, so a configuration whose
	// jobs could name another is refused.
	targets []scanjob.Target
	// source re-reads the configuration; nil when the bridge was started
	// without one (tests that start it in-process), and then only
	// reloadWith applies one.
	source configSource
	// level is the log level the logger reads; nil when the logger was
	// built elsewhere, and then log.level changes take a restart.
	level *slog.LevelVar

	mu sync.Mutex
	// cur is the configuration running now.
	cur config.Config
	// adminTokens are the admin API's tokens now; admin is the running
	// admin API's set (nil when no admin API serves), which a reload
	// replaces when they change.
	adminTokens []string
	admin       *admin.Tokens

	reloads     *prometheus.CounterVec
	lastSuccess prometheus.Gauge
	lastOK      prometheus.Gauge
}

// newReloader registers the reload metrics on reg at start, so that they
// exist (and the alert on them can be evaluated) before any reload: the
// configuration the bridge started with counts as the last successful
// load, as in Prometheus' own prometheus_config_last_reload_* metrics.
func newReloader(cfg config.Config, srv *handlers.Server, targets []scanjob.Target, adminTokens []string, log *slog.Logger, reg prometheus.Registerer) *reloader {
	r := &reloader{log: log.With("component", "reload"), srv: srv, targets: targets, cur: cfg, adminTokens: adminTokens,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scanbridge_config_reloads_total",
			Help: "Configuration reloads (SIGHUP or a changed secret file) by result: success, or failure (the running configuration was kept).",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scanbridge_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last configuration load that was applied (the start counts).",
		}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scanbridge_config_last_reload_successful",
			Help: "1 if the last configuration reload was applied, 0 if it was refused and the bridge runs an older configuration than the one on disk.",
		}),
	}
	r.reloads.WithLabelValues("success")
	r.reloads.WithLabelValues("failure")
	r.lastSuccess.SetToCurrentTime()
	r.lastOK.Set(1)
	reg.MustRegister(r.reloads, r.lastSuccess, r.lastOK)
	return r
}

// reload reads the configuration from the source and applies it; trigger
// says why, for the log.
func (r *reloader) reload(trigger string) error {
	r.mu.Lock()
	source := r.source
	r.mu.Unlock()
	if source == nil {
		return errors.New("no configuration source to reload from")
	}
	next, err := source()
	if err != nil {
		r.refused(trigger, err)
		return err
	}
	return r.reloadWith(trigger, next)
}

// reloadWith applies next, a configuration that passed every check of
// bridge config check, or refuses it whole.
func (r *reloader) reloadWith(trigger string, next config.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep, err := r.apply(next)
	if err != nil {
		r.refused(trigger, err)
		return err
	}
	r.reloads.WithLabelValues("success").Inc()
	r.lastSuccess.SetToCurrentTime()
	r.lastOK.Set(1)
	r.log.Info("configuration reloaded", "trigger", trigger, "receivers", len(next.Receivers),
		"added", rep.Added, "removed", rep.Removed, "changed", rep.Changed,
		"routes_changed", rep.RoutesChanged, "log_level", next.Log.Level)
	return nil
}

func (r *reloader) refused(trigger string, err error) {
	r.reloads.WithLabelValues("failure").Inc()
	r.lastOK.Set(0)
	r.log.Error("configuration reload refused; the running configuration is kept", "trigger", trigger, "error", err.Error())
}

// apply checks what only a running bridge can check, then swaps the
// webhook server's receivers and routes and sets the log level. Nothing
// changes unless every check passes.
func (r *reloader) apply(next config.Config) (handlers.ReloadReport, error) {
	lines := r.cur.RestartNeeded(next)
	if next.Log.Level != r.cur.Log.Level && r.level == nil {
		lines = append(lines, "log.level changed: restart the bridge to apply (this bridge's logger has a fixed level)")
	}
	tokens, err := next.Admin.Tokens()
	rotate := false
	switch {
	case err != nil:
		lines = append(lines, err.Error())
	case slices.Equal(tokens, r.adminTokens):
	case r.admin == nil || len(tokens) == 0:
		// Rotation swaps the tokens of a serving admin API; creating its
		// routes or taking them away is a start-up decision.
		lines = append(lines, "admin tokens: switching the admin API on or off (admin.token, admin.token_file) takes a restart; rotating its tokens does not")
	default:
		rotate = true
	}
	recvs, err := next.FilledReceivers()
	if err != nil {
		lines = append(lines, err.Error())
	}
	hcfg := webhookConfig(next, recvs)
	for _, t := range hcfg.Targets() {
		if !slices.Contains(r.targets, t) {
			lines = append(lines, fmt.Sprintf("receivers and routes: jobs could name the HSS target %s, which the running consumer does not send to: restart the bridge to apply", t.Key()))
		}
	}
	if len(lines) > 0 {
		return handlers.ReloadReport{}, invalidReload(lines)
	}
	rep, err := r.srv.Reload(hcfg)
	if err != nil {
		return rep, fmt.Errorf("webhook server: %w", err)
	}
	if r.level != nil {
		r.level.Set(parseLevel(next.Log.Level))
	}
	if rotate {
		// Cannot fail: tokens is not empty (checked above).
		if err := r.admin.Set(tokens); err != nil {
			r.log.Error("admin tokens not rotated", "error", err)
		} else {
			r.adminTokens = tokens
			r.log.Info("admin tokens rotated", "tokens", len(tokens))
		}
	}
	r.cur = next
	return rep, nil
}

// invalidReload words the lines as config.Check words a configuration's
// problems.
func invalidReload(lines []string) error {
	s := "s"
	if len(lines) == 1 {
		s = ""
	}
	return fmt.Errorf("configuration cannot be reloaded, %d problem%s:\n%s", len(lines), s, strings.Join(lines, "\n"))
}

// webhookConfig is the webhook server's configuration, at start and at
// every reload.
func webhookConfig(cfg config.Config, recvs []handlers.ReceiverConfig) handlers.Config {
	return handlers.Config{MaxBodyBytes: cfg.HTTP.MaxBodyBytes, MaxInFlight: cfg.HTTP.MaxInFlight,
		PublishTimeout: cfg.HTTP.PublishTimeout, Receivers: recvs, Routes: cfg.Routes}
}

// parseLevel reads log.level (debug, info, warn, error; checked by
// config).
func parseLevel(s string) slog.Level {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(s)))
	return level
}

// newLevelLogger is newLogger with the level in a LevelVar, which a
// reload sets.
func newLevelLogger(w io.Writer, c config.LogConfig) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	level.Set(parseLevel(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(durationsAsText{slog.NewTextHandler(w, opts)}), level
	}
	return slog.New(durationsAsText{slog.NewJSONHandler(w, opts)}), level
}

// watchedFiles are the secret files of cfg whose change triggers a
// reload: the receivers' secret_files and jwks_file, and
// admin.token_file (rotated in place while the admin API serves).
// Sorted, without duplicates.
func watchedFiles(cfg config.Config) []string {
	var out []string
	for _, rc := range cfg.Receivers {
		out = append(out, rc.Auth.SecretFiles...)
		if rc.Auth.JWKSFile != "" {
			out = append(out, rc.Auth.JWKSFile)
		}
	}
	if cfg.Admin.TokenFile != "" {
		out = append(out, cfg.Admin.TokenFile)
	}
	for i, f := range out {
		if abs, err := filepath.Abs(f); err == nil {
			out[i] = abs
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// fingerprint is a digest of the files' contents (a read error counts as
// content), so that an event that changed nothing (a chmod, an editor's
// backup file, Kubernetes removing the old copy) reloads nothing.
func fingerprint(files []string) [sha256.Size]byte {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			b = []byte("error: " + err.Error())
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	return [sha256.Size]byte(h.Sum(nil))
}

// reloadSignal is serve's reloading: SIGHUP caught from before the
// bridge starts (its default action would end the process), then the
// reload loop. The zero value, for a bridge without a configuration
// source, does nothing.
type reloadSignal struct {
	source configSource
	hup    chan os.Signal
	cancel context.CancelFunc
	done   chan struct{}
}

// catchReloadSignal starts catching SIGHUP when a source is given.
func catchReloadSignal(source ...configSource) *reloadSignal {
	rs := &reloadSignal{}
	if len(source) == 0 || source[0] == nil {
		return rs
	}
	rs.source, rs.hup = source[0], make(chan os.Signal, 1)
	signal.Notify(rs.hup, syscall.SIGHUP)
	return rs
}

// watch makes r reload from the source, with level as the logger's
// level, on SIGHUP and when a secret file changes, until ctx is done or
// stop is called.
func (rs *reloadSignal) watch(ctx context.Context, r *reloader, level *slog.LevelVar) {
	if rs.source == nil {
		return
	}
	r.mu.Lock()
	r.source, r.level = rs.source, level
	r.mu.Unlock()
	ctx, rs.cancel = context.WithCancel(ctx)
	rs.done = make(chan struct{})
	go func() {
		defer close(rs.done)
		r.loop(ctx, rs.hup)
	}()
}

// stop ends the watching and gives SIGHUP its default action back.
func (rs *reloadSignal) stop() {
	if rs.hup == nil {
		return
	}
	signal.Stop(rs.hup)
	if rs.cancel != nil {
		rs.cancel()
		<-rs.done
	}
}

// loop reloads on hup and when a watched secret file changes. It
// watches the files' directories, not the files: Kubernetes replaces a
// mounted Secret by swapping the ..data symlink in the directory, which a
// watch on the old file never sees, and editors replace files by rename.
func (r *reloader) loop(ctx context.Context, hup <-chan os.Signal) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Warn("secret files are not watched; send SIGHUP after changing one", "error", err)
		w = nil
	} else {
		defer w.Close()
	}
	var (
		events <-chan fsnotify.Event
		errs   <-chan error
		dirs   = map[string]bool{}
		files  []string
		print  [sha256.Size]byte
	)
	// follow watches the directories of the running configuration's
	// files and notes their content.
	follow := func() {
		r.mu.Lock()
		files = watchedFiles(r.cur)
		r.mu.Unlock()
		print = fingerprint(files)
		if w == nil {
			return
		}
		want := map[string]bool{}
		for _, f := range files {
			want[filepath.Dir(f)] = true
		}
		for d := range dirs {
			if !want[d] {
				_ = w.Remove(d)
				delete(dirs, d)
			}
		}
		for d := range want {
			if dirs[d] {
				continue
			}
			if err := w.Add(d); err != nil {
				r.log.Warn("cannot watch a secret file's directory; send SIGHUP after changing its files", "dir", d, "error", err)
				continue
			}
			dirs[d] = true
		}
	}
	if w != nil {
		events, errs = w.Events, w.Errors
	}
	follow()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = r.reload("SIGHUP")
			follow()
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			debounce.Reset(reloadDebounce)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.log.Warn("watching the secret files", "error", err)
		case <-debounce.C:
			if fingerprint(files) == print {
				continue
			}
			_ = r.reload("secret file changed")
			follow()
		}
	}
}
