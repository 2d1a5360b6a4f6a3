package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/natsconn"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
	"github.com/scan-bridge/scan-bridge/scanner"
	"github.com/scan-bridge/scan-bridge/sources"
	"github.com/scan-bridge/scan-bridge/swrclient"
)

// Sources (package sources, docs/sources.md): registries the bridge polls
// for pushes that send no webhook, and sweeps behind receivers. serve
// starts one poller per source under its lease (startSources); `bridge
// sources` lists them and runs a round by hand.

// sourceLeaseTTL is the sources' lease TTL: a dead holder's sources move
// to another replica within about 1.25 of it.
const sourceLeaseTTL = 30 * time.Second

// sourceTargets are the HSS targets the sources' jobs can name (a
// sweep's are its receiver's, already among the receivers'), with the
// routes' rewrites, for the consumer's allow-list.
func sourceTargets(cfg config.Config) []scanjob.Target {
	var rcs []handlers.ReceiverConfig
	for _, s := range cfg.FilledSources() {
		if s.SweepFor == "" {
			rcs = append(rcs, sourceReceiver(s))
		}
	}
	if len(rcs) == 0 {
		return nil
	}
	return handlers.Config{Receivers: rcs, Routes: cfg.Routes}.Targets()
}

// sourceReceiver is the receiver a source's jobs are planned as.
func sourceReceiver(s sources.Config) handlers.ReceiverConfig {
	return handlers.ReceiverConfig{Name: s.Name, Target: s.Target, InstanceID: s.InstanceID,
		InstanceURL: s.InstanceURL, DefaultNamespace: s.DefaultNamespace}
}

// startSources starts every source's poller under its lease in the
// sources bucket; nil when there is none.
func startSources(ctx context.Context, cfg config.Config, js jetstream.JetStream, planner sources.Planner, pub sources.Publisher,
	known sources.Known, replicas int, reg prometheus.Registerer, log *slog.Logger) (*loops, error) {
	if len(cfg.Sources) == 0 {
		return nil, nil
	}
	var kv jetstream.KeyValue
	if err := natsconn.RetryJetStream(ctx, log, "open sources bucket", func(ctx context.Context) (err error) {
		kv, err = sources.OpenBucket(ctx, js, replicas)
		return err
	}); err != nil {
		return nil, err
	}
	m := sources.NewMetrics(reg)
	var pollers []*sources.Poller
	for _, c := range cfg.FilledSources() {
		p, err := sources.New(c, sources.Deps{KV: kv, Planner: planner, Publisher: pub, Known: known, Metrics: m, Logger: log})
		if err != nil {
			return nil, err
		}
		m.Init(c.Name)
		pollers = append(pollers, p)
	}
	sp := startLoops(ctx)
	for _, p := range pollers {
		lease := scanner.NewLease(kv, sources.LeaseKey(p.Config().Name), sourceLeaseTTL, "", log.With("source", p.Config().Name))
		sp.goRun(func(ctx context.Context) { p.Run(ctx, lease) })
	}
	log.Info("sources started", "sources", len(pollers))
	return sp, nil
}

type sourcesOptions struct {
	natsFlags
	dryRun bool
}

func newSourcesCmd() *cobra.Command {
	o := &sourcesOptions{}
	cmd := &cobra.Command{
		Use:   "sources",
		Short: "List the polled registries (sources) and run a round by hand",
		Long: "sources shows the registries the bridge polls (the sources: section, docs/sources.md)\n" +
			"as the running bridge keeps them on its NATS: the replica holding each source's\n" +
			"lease, its last round and its checkpoint; and runs one round of a source now.",
	}
	o.register(cmd.PersistentFlags(), "JSON instead of text")
	list := &cobra.Command{
		Use:   "list",
		Short: "Show each source, its lease holder, last round and checkpoint size",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.list(cmd) },
	}
	run := &cobra.Command{
		Use:   "run NAME",
		Short: "Run one round of a source now (--dry-run: show what it would enqueue, store nothing)",
		Example: "  bridge sources run legacy-registry --dry-run -c bridge.yaml\n" +
			"  bridge sources run legacy-registry -c bridge.yaml",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0]) },
	}
	run.Flags().BoolVar(&o.dryRun, "dry-run", false, "store nothing: no job, no checkpoint, no round record")
	cmd.AddCommand(list, run)
	return cmd
}

// sourceRow is one line of `bridge sources list`.
type sourceRow struct {
	Name            string              `json:"name"`
	Kind            string              `json:"kind"`
	URL             string              `json:"url"`
	Every           string              `json:"every"`
	SweepFor        string              `json:"sweep_for,omitempty"`
	LeaseHolder     string              `json:"lease_holder,omitempty"`
	LeaseRenewed    time.Time           `json:"lease_renewed,omitzero"`
	LastRound       sources.RoundRecord `json:"last_round"`
	CheckpointKeys  int                 `json:"checkpoint_repositories"`
	CheckpointBytes int                 `json:"checkpoint_bytes"`
}

func (o *sourcesOptions) connect(cmd *cobra.Command, name string) (config.Config, jetstream.JetStream, func(), error) {
	cfg, err := loadConfig(o.config, nil)
	if err != nil {
		return cfg, nil, nil, err
	}
	if len(cfg.Sources) == 0 {
		return cfg, nil, nil, errors.New("no sources configured (see docs/sources.md)")
	}
	nc, err := natsconn.Dial(cmd.Context(), cfg.NATS.Config, o.natsURL, name)
	if err != nil {
		return cfg, nil, nil, fmt.Errorf("%w (is the bridge running?)", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return cfg, nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return cfg, js, nc.Close, nil
}

func (o *sourcesOptions) list(cmd *cobra.Command) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, js, closeNC, err := o.connect(cmd, "scan-bridge-sources")
	if err != nil {
		return err
	}
	defer closeNC()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	kv, err := js.KeyValue(ctx, sources.Bucket)
	if err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("sources bucket %s: %w", sources.Bucket, err)
	}
	var rows []sourceRow
	for _, s := range cfg.FilledSources() {
		row := sourceRow{Name: s.Name, Kind: s.Kind, URL: sourceURL(s), Every: s.Schedule.Every.String(), SweepFor: s.SweepFor}
		if kv != nil {
			if row.LeaseHolder, row.LeaseRenewed, err = sources.LeaseHolder(ctx, kv, s.Name); err != nil {
				return err
			}
			if row.LastRound, err = sources.ReadRound(ctx, kv, s.Name); err != nil {
				return err
			}
			if row.CheckpointKeys, row.CheckpointBytes, err = sources.CheckpointSize(ctx, kv, s.Name); err != nil {
				return err
			}
		}
		rows = append(rows, row)
	}
	out := cmd.OutOrStdout()
	if o.asJSON {
		enc := json.NewEncoder(out)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	return writeSourcesTable(out, rows, time.Now())
}

// sourceURL is where a source polls: its url, or for kind swr the SWR
// API endpoint.
func sourceURL(s sources.Config) string {
	if s.Kind != sources.KindSWR {
		return s.URL
	}
	if s.SWR.Endpoint != "" {
		return s.SWR.Endpoint
	}
	return swrclient.Endpoint(s.SWR.Region)
}

func writeSourcesTable(out io.Writer, rows []sourceRow, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKIND\tEVERY\tSWEEP FOR\tLEASE HOLDER\tLAST ROUND\tRESULT\tENQUEUED\tFOUND\tCHECKPOINT")
	for _, r := range rows {
		last, holder, sweep := "never", "-", "-"
		if !r.LastRound.Started.IsZero() {
			last = now.Sub(r.LastRound.Started).Round(time.Second).String() + " ago"
		}
		if r.LeaseHolder != "" {
			holder = r.LeaseHolder
		}
		if r.SweepFor != "" {
			sweep = r.SweepFor
		}
		result := r.LastRound.Result
		if r.LastRound.Error != "" {
			result += " (" + r.LastRound.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d repositories, %d bytes\n", r.Name, r.Kind, r.Every, sweep, holder,
			last, result, r.LastRound.Enqueued, r.LastRound.Found, r.CheckpointKeys, r.CheckpointBytes)
	}
	return tw.Flush()
}

func (o *sourcesOptions) run(cmd *cobra.Command, name string) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, js, closeNC, err := o.connect(cmd, "scan-bridge-sources")
	if err != nil {
		return err
	}
	defer closeNC()
	var src *sources.Config
	var names []string
	for _, s := range cfg.FilledSources() {
		names = append(names, s.Name)
		if s.Name == name {
			src = &s
		}
	}
	if src == nil {
		return fmt.Errorf("no source named %q (sources: %v)", name, names)
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	deps := sources.Deps{Logger: log}
	kv, err := js.KeyValue(actx, sources.Bucket)
	switch {
	case err == nil:
		deps.KV = kv
	case errors.Is(err, jetstream.ErrBucketNotFound) && o.dryRun:
		// No bridge ever polled: every tag is new.
	case errors.Is(err, jetstream.ErrBucketNotFound):
		if deps.KV, err = sources.OpenBucket(actx, js, cfg.Queue.WithDefaults().Stream.Replicas); err != nil {
			return err
		}
	default:
		return fmt.Errorf("sources bucket %s: %w", sources.Bucket, err)
	}
	var pub handlers.Publisher
	if !o.dryRun {
		q, err := queue.Attach(actx, js, cfg.Queue, log)
		if err != nil {
			return attachError(err, o.natsURL)
		}
		pub = publisher{q}
		deps.Publisher = pub
	}
	if s, err := lifecycle.Attach(actx, js, lifecycle.Config{}); err == nil {
		deps.Known = s
	}
	recvs, err := cfg.FilledReceivers()
	if err != nil {
		return err
	}
	srv, err := handlers.New(webhookConfig(cfg, recvs), handlers.Options{Publisher: pub, Logger: log})
	if err != nil {
		return err
	}
	deps.Planner = srv
	p, err := sources.New(*src, deps)
	if err != nil {
		return err
	}
	rep, err := p.Round(ctx, o.dryRun)
	if err != nil {
		return err
	}
	return writeReport(cmd.OutOrStdout(), rep, o.asJSON)
}

func writeReport(out io.Writer, rep sources.Report, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(out).Encode(rep)
	}
	verb := "enqueued"
	if rep.DryRun {
		verb = "would enqueue"
	}
	fmt.Fprintf(out, "source %s: %s; %d repositories, %d tags checked; %s %d jobs", rep.Source, rep.Result, rep.Repositories, rep.Tags, verb, len(rep.Jobs))
	if rep.Found > 0 {
		fmt.Fprintf(out, " (%d no webhook announced)", rep.Found)
	}
	fmt.Fprintln(out)
	if rep.Error != "" {
		fmt.Fprintf(out, "  %s\n", rep.Error)
	}
	for _, j := range rep.Jobs {
		note := ""
		if j.Duplicate {
			note = "  (already stored)"
		}
		if j.Found {
			note += "  (no webhook announced it)"
		}
		fmt.Fprintf(out, "  job %s  %s%s\n", j.ID, j.Image, note)
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(out, "  skipped %s: %s\n", s.Ref, s.Reason)
	}
	for _, s := range rep.Invalid {
		fmt.Fprintf(out, "  invalid %s\n", s)
	}
	for _, s := range rep.Failed {
		fmt.Fprintf(out, "  failed %s\n", s)
	}
	if rep.Resume != "" {
		fmt.Fprintf(out, "  the next round goes on after %s\n", rep.Resume)
	}
	return nil
}
