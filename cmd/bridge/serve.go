package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/scan-bridge/scan-bridge/admin"
	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/natsconn"
	"github.com/scan-bridge/scan-bridge/notify"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
	"github.com/scan-bridge/scan-bridge/scanner"
	"github.com/scan-bridge/scan-bridge/sources"
)

func newServeCmd() *cobra.Command {
	var (
		path   string
		listen string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Receive webhooks, queue scan jobs and call HSS",
		Long: "serve runs the bridge. With no nats.url it embeds a NATS server with JetStream\n" +
			"in nats.data_dir. Without HSS credentials it refuses to start unless --dry-run\n" +
			"replaces HSS by the built-in simulator.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			override := func(c *config.Config) {
				if cmd.Flags().Changed("listen") {
					c.HTTP.Listen = listen
				}
				if cmd.Flags().Changed("dry-run") {
					c.DryRun = dryRun
				}
			}
			cfg, err := loadConfig(path, override)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// Reload (reload.go) reads the same file, variables and flags,
			// with the checks of bridge config check.
			reload := func() (config.Config, error) { return config.Check(path, os.Environ, override, hssCredentials) }
			return serve(ctx, cfg, cmd.ErrOrStderr(), reload)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "YAML config file")
	cmd.Flags().StringVar(&listen, "listen", "", "HTTP listen address (overrides http.listen)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "replace HSS by the built-in simulator, which checks and logs each request")
	return cmd
}

// app is a running bridge: every part and the order to stop them in.
type app struct {
	cfg      config.Config
	log      *slog.Logger
	ns       *natsconn.Embedded // nil with an external NATS
	nc       *nats.Conn
	q        *queue.Queue
	hss      *scanner.HSS
	consumer *queue.Consumer
	http     *http.Server // the webhook listener
	ln       net.Listener
	admin    *http.Server         // the admin listener; nil when admin.listen is empty
	adminLn  net.Listener         // nil when admin.listen is empty
	intake   *handlers.NATSIntake // nil unless nats.intake.enabled
	// intakeNC is the NATS intake's own connection (nil unless
	// nats.intake.enabled): a flood of intake messages fills its buffers
	// on the server, and were the server to close it as a slow consumer,
	// only the intake reconnects; the connection that stores jobs and
	// feeds the consumer is not touched.
	intakeNC *nats.Conn
	life     *lifecycleParts  // the lifecycle store, results and watcher
	sources  *loops           // the polled registries (sources.go); nil without sources
	scheds   *loops           // the scheduled scans (schedules.go); nil without schedules
	reloader *reloader        // applies a re-read configuration (reload.go)
	notify   *notify.Notifier // the result webhooks (notify.go); nil without any
	done     chan error       // Run's result
}

// serve starts the bridge and runs it until ctx is done, then shuts down.
// Given a source, SIGHUP and changed secret files reload the
// configuration from it (reload.go).
func serve(ctx context.Context, cfg config.Config, logOut io.Writer, source ...configSource) error {
	// Reload (reload.go): from here on SIGHUP reloads rather than ends
	// the bridge; one sent during start is applied once it runs.
	hup := catchReloadSignal(source...)
	defer hup.stop()
	log, level := newLevelLogger(logOut, cfg.Log)
	setMemoryLimit(log)
	stopTracing, err := startTracing(ctx, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	a, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	hup.watch(ctx, a.reloader, level)
	<-ctx.Done()
	return a.shutdown()
}

// start builds and starts every part; on error it stops what it started.
func start(ctx context.Context, cfg config.Config, log *slog.Logger) (a *app, err error) {
	began := time.Now()
	a = &app{cfg: cfg, log: log, done: make(chan error, 1)}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerBuildInfo(reg)

	// HSS first: missing credentials are the commonest start-up mistake
	// and need no NATS to report.
	if a.hss, err = newHSS(cfg, reg, log); err != nil {
		return a, err
	}
	if cfg.DryRun {
		log.Warn("dry run: HSS is replaced by the built-in simulator; no image is really scanned")
	}
	recvs, err := cfg.FilledReceivers()
	if err != nil {
		return a, err
	}

	nlog := log.With("component", "nats")
	if cfg.NATS.Embedded() {
		if a.ns, err = natsconn.StartEmbedded(cfg.NATS.Config, nlog); err != nil {
			return a, err
		}
	}
	if a.nc, err = natsconn.Connect(cfg.NATS.Config, a.ns, nlog); err != nil {
		return a, err
	}
	js, err := jetstream.New(a.nc)
	if err != nil {
		return a, fmt.Errorf("jetstream: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	qm := queue.NewMetrics(reg)
	if err := natsconn.RetryJetStream(octx, log, "open queue", func(ctx context.Context) (err error) {
		a.q, err = queue.Open(ctx, js, cfg.Queue, log, qm)
		return err
	}); err != nil {
		return a, err
	}
	// Every HSS call goes through one quota (shared by the replicas when
	// hss.shared_limit is on); the lifecycle store, the result events and
	// the watcher follow each scan to its result (watch.go).
	quota, err := openQuota(octx, cfg, js, a.hss, a.q.Config().Stream.Replicas, log)
	if err != nil {
		return a, err
	}
	watcher, err := a.openLifecycle(octx, js, quota, reg)
	if err != nil {
		return a, err
	}
	hcfg := webhookConfig(cfg, recvs)
	// The consumer sends only jobs whose target a receiver can produce: a
	// job on the stream that no receiver made cannot choose the project.
	// The sources' own targets too (sources.go): their jobs are a
	// receiver's in all but the name.
	a.consumer = a.q.NewConsumer(a.hss.Logged(), queue.AllowTargets(append(hcfg.Targets(), sourceTargets(cfg)...)...))

	adminTokens, err := cfg.Admin.Tokens()
	if err != nil {
		return a, err
	}
	srv, err := handlers.New(hcfg,
		handlers.Options{Publisher: publisher{a.q}, Logger: log, Registry: reg, DryRun: cfg.DryRun,
			Ready: readyAll{natsconn.Ready{Conn: a.nc, Stream: func(ctx context.Context) error {
				_, err := js.Stream(ctx, a.q.Config().Stream.Name)
				return err
			}}, quota.Health()}})
	if err != nil {
		return a, err
	}
	a.reloader = newReloader(cfg, srv, hcfg.Targets(), adminTokens, log, reg)
	if cfg.NATS.Intake.Enabled {
		if a.intakeNC, err = natsconn.Connect(cfg.NATS.Config, a.ns, nlog, nats.Name("scan-bridge-intake")); err != nil {
			return a, err
		}
		if a.intake, err = srv.ServeNATS(a.intakeNC, cfg.NATS.Intake); err != nil {
			return a, err
		}
	}
	if a.ln, err = listenWebhooks(cfg.HTTP); err != nil {
		return a, err
	}
	if a.adminLn, err = listenAdmin(cfg.Admin); err != nil {
		return a, err
	}
	a.http = newHTTPServer(srv.NewEcho(), cfg.HTTP, log)
	if a.adminLn != nil {
		e := srv.NewAdminEcho()
		a.reloader.admin = admin.Register(e, admin.Options{Tokens: adminTokens, DeadLetters: a.q.DeadLetters(), Images: a.life.store,
			Logger: log, Registry: reg})
		if cfg.Debug.PProf {
			registerPProf(e)
			log.Warn("pprof is on: /debug/pprof on the admin listener shows request contents", "admin_listen", a.adminLn.Addr().String())
		}
		a.admin = newHTTPServer(e, cfg.HTTP, log)
	} else if len(adminTokens) > 0 || cfg.Debug.PProf {
		log.Warn("admin.listen is empty: the admin API and pprof are configured but not served")
	}

	// --- sources (sources.go, docs/sources.md) ---
	// Registries polled for pushes that send no webhook, and sweeps: their
	// images go through srv's plan and the webhooks' publisher.
	var known sources.Known
	if a.life != nil && a.life.store != nil {
		known = a.life.store
	}
	if a.sources, err = startSources(octx, cfg, js, srv, publisher{a.q}, known, a.q.Config().Stream.Replicas, reg, log); err != nil {
		return a, err
	}
	// --- end sources ---
	// --- schedules (schedules.go, docs/schedules.md) ---
	// Cron schedules: a full scan through a.hss's Send (the consumer's
	// quota scheduler), a rescan through the lifecycle records and the
	// job stream, as the watcher sends a job again.
	sd := scheduleDeps{scanner: a.hss, resender: scanner.NewJobStream(js, a.q.Config().Stream)}
	if a.life != nil && a.life.store != nil {
		sd.records = a.life.store
	}
	if a.scheds, err = startSchedules(octx, cfg, js, sd, a.q.Config().Stream.Replicas, reg, log); err != nil {
		return a, err
	}
	// --- end schedules ---
	// Result webhooks (notify.go): started last, nothing after can fail.
	if a.notify, err = startNotify(octx, cfg, js, a.life, reg, log); err != nil {
		return a, err
	}

	go func() { a.done <- a.consumer.Run(context.WithoutCancel(ctx)) }()
	a.life.run(watcher, log)
	go serveHTTP(a.http, a.ln, "http server stopped", log)
	adminAddr := ""
	if a.admin != nil {
		go serveHTTP(a.admin, a.adminLn, "admin server stopped", log)
		adminAddr = a.adminLn.Addr().String()
	}
	log.Info("bridge started", "listen", a.ln.Addr().String(), "admin_listen", adminAddr, "receivers", len(recvs), "dry_run", cfg.DryRun,
		"embedded_nats", a.ns != nil, "startup_ms", time.Since(began).Milliseconds())
	return a, nil
}

// shutdown runs against the data flow within the grace period: stop taking
// webhooks, let in-flight HSS calls finish and Nak the rest, then drain
// NATS and stop the embedded server.
func (a *app) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.HTTP.ShutdownGrace)
	defer cancel()
	a.log.Info("shutting down", "grace", a.cfg.HTTP.ShutdownGrace.String())
	var errs []error
	// Intake gets at most a third of the grace: a webhook still waiting
	// for its store after that is better answered by a retry.
	hctx, hcancel := context.WithTimeout(ctx, a.cfg.HTTP.ShutdownGrace/3)
	if err := a.http.Shutdown(hctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	// The admin listener stops before NATS drains: a redrive in flight
	// still needs it. A request that outlives the deadline (a CPU
	// profile) is cut off.
	if a.admin != nil {
		if err := a.admin.Shutdown(hctx); err != nil {
			a.admin.Close()
			errs = append(errs, fmt.Errorf("admin http shutdown: %w", err))
		}
	}
	if a.intake != nil {
		if err := a.intake.Shutdown(hctx); err != nil {
			errs = append(errs, fmt.Errorf("nats intake shutdown: %w", err))
		}
	}
	hcancel()
	a.sources.shutdown() // no poll stores a job once the consumer stops
	a.scheds.shutdown()  // nor a schedule
	a.life.shutdown()
	shutdownNotify(a.notify, a.cfg.HTTP.ShutdownGrace) // before NATS drains
	if err := a.consumer.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("consumer shutdown: %w", err))
	}
	if err := <-a.done; err != nil && !errors.Is(err, queue.ErrClosed) {
		errs = append(errs, fmt.Errorf("consumer: %w", err))
	}
	a.close()
	err := errors.Join(errs...)
	if err != nil {
		a.log.Warn("shutdown incomplete", "error", err)
	} else {
		a.log.Info("stopped")
	}
	return err
}

// close releases connections and the embedded server (idempotent enough
// for the error paths of start).
func (a *app) close() {
	if a.intakeNC != nil {
		natsconn.Drain(a.intakeNC)
	}
	if a.nc != nil {
		natsconn.Drain(a.nc)
	}
	if a.ln != nil && a.http == nil {
		a.ln.Close()
	}
	if a.adminLn != nil && a.admin == nil {
		a.adminLn.Close()
	}
	if a.ns != nil {
		a.ns.Stop()
	}
}

// serveHTTP serves srv on ln until srv is shut down; any other end is
// logged as msg.
func serveHTTP(srv *http.Server, ln net.Listener, msg string, log *slog.Logger) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error(msg, "error", err)
	}
}

// publisher adapts the queue to the handlers' Publisher interface.
type publisher struct{ q *queue.Queue }

func (p publisher) Publish(ctx context.Context, j scanjob.Job) (bool, error) {
	res, err := p.q.Publish(ctx, j)
	return res.Duplicate, err
}

// jetstreamFor gives tests and admin commands a JetStream handle on the
// app's connection.
func jetstreamFor(a *app) (jetstream.JetStream, error) { return jetstream.New(a.nc) }
