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
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/natsconn"
	"github.com/scan-bridge/scan-bridge/scanner"
	"github.com/scan-bridge/scan-bridge/schedules"
)

// Scheduled scans (package schedules, docs/schedules.md): serve runs
// every schedule's clock on every replica (startSchedules); a fire runs
// on the replica that claims it first. `bridge schedules list` shows the
// next fires and the last runs.

// scheduleDeps are what the schedules run with: the HSS side's Send for
// full scans (the consumer's quota scheduler and call slots), the
// lifecycle records and the job stream for rescans.
type scheduleDeps struct {
	scanner  schedules.FullScanner
	records  schedules.Records  // nil: no lifecycle store
	resender schedules.Resender // scanner.JobStream on the job stream
}

// startSchedules opens the schedules bucket and starts each schedule's
// clock; nil when there is none.
func startSchedules(ctx context.Context, cfg config.Config, js jetstream.JetStream, d scheduleDeps, replicas int,
	reg prometheus.Registerer, log *slog.Logger) (*loops, error) {
	if len(cfg.Schedules) == 0 {
		return nil, nil
	}
	var kv jetstream.KeyValue
	if err := natsconn.RetryJetStream(ctx, log, "open schedules bucket", func(ctx context.Context) (err error) {
		kv, err = schedules.OpenBucket(ctx, js, replicas)
		return err
	}); err != nil {
		return nil, err
	}
	m := schedules.NewMetrics(reg)
	replica := scanner.ReplicaName()
	var scheds []*schedules.Schedule
	for _, c := range cfg.FilledSchedules() {
		s, err := schedules.New(c, schedules.Deps{KV: kv, Scanner: d.scanner, Records: d.records, Resender: d.resender,
			Metrics: m, Logger: log, Replica: replica})
		if err != nil {
			return nil, err
		}
		m.Init(c.Name)
		scheds = append(scheds, s)
	}
	sp := startLoops(ctx)
	for _, s := range scheds {
		sp.goRun(s.Run)
	}
	log.Info("schedules started", "schedules", len(scheds), "replica", replica)
	return sp, nil
}

type schedulesOptions struct {
	natsFlags
	fires int
}

func newSchedulesCmd() *cobra.Command {
	o := &schedulesOptions{}
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "Show the scheduled scans: next fire times and last runs",
		Long: "schedules shows the scheduled scans (the schedules: section, docs/schedules.md):\n" +
			"each schedule's next fire times, and its last run as the running bridge keeps it\n" +
			"on its NATS.",
	}
	o.register(cmd.PersistentFlags(), "JSON instead of text")
	list := &cobra.Command{
		Use:   "list",
		Short: "Show each schedule, its next fire times and its last run",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.list(cmd) },
	}
	list.Flags().IntVar(&o.fires, "next", 3, "how many next fire times to show (1-20)")
	cmd.AddCommand(list)
	return cmd
}

// scheduleRow is one schedule of `bridge schedules list`.
type scheduleRow struct {
	Name     string             `json:"name"`
	Cron     string             `json:"cron"`
	Timezone string             `json:"timezone"`
	Action   string             `json:"action"`
	CatchUp  bool               `json:"catch_up"`
	Next     []time.Time        `json:"next"`
	LastRun  *schedules.LastRun `json:"last_run,omitempty"`
	Config   schedules.Config   `json:"-"`
}

func (o *schedulesOptions) list(cmd *cobra.Command) error {
	if o.fires < 1 || o.fires > 20 {
		return fmt.Errorf("--next %d: give 1 to 20", o.fires)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := loadConfig(o.config, nil)
	if err != nil {
		return err
	}
	if len(cfg.Schedules) == 0 {
		return errors.New("no schedules configured (see docs/schedules.md)")
	}
	now := time.Now()
	rows, err := scheduleRows(cfg, now, o.fires)
	if err != nil {
		return err
	}
	// The last runs are on the bridge's NATS; without it the next fire
	// times are still worth showing.
	if err := o.readLastRuns(ctx, cmd, cfg, rows); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "last runs not shown: %v\n", err)
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
	return writeSchedulesTable(out, rows, now)
}

// scheduleRows are the schedules of cfg with their next n fires after
// now.
func scheduleRows(cfg config.Config, now time.Time, n int) ([]scheduleRow, error) {
	var rows []scheduleRow
	for _, c := range cfg.FilledSchedules() {
		s, err := schedules.NewClock(c)
		if err != nil {
			return nil, err
		}
		row := scheduleRow{Name: c.Name, Cron: c.Cron, Timezone: c.Timezone, Action: c.Action, CatchUp: c.CatchUp, Config: c}
		for t := now; len(row.Next) < n; {
			t = s.Next(t)
			if t.IsZero() {
				break
			}
			row.Next = append(row.Next, t)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (o *schedulesOptions) readLastRuns(ctx context.Context, cmd *cobra.Command, cfg config.Config, rows []scheduleRow) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nc, err := natsconn.Dial(ctx, cfg.NATS.Config, o.natsURL, "scan-bridge-schedules")
	if err != nil {
		return fmt.Errorf("%w (is the bridge running?)", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	kv, err := schedules.AttachBucket(ctx, js)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil // no schedule ran yet
	}
	if err != nil {
		return err
	}
	for i := range rows {
		lr, ok, err := schedules.ReadLastRun(ctx, kv, rows[i].Name)
		if err != nil {
			return err
		}
		if ok {
			rows[i].LastRun = &lr
		}
	}
	return nil
}

func writeSchedulesTable(out io.Writer, rows []scheduleRow, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULE\tCRON\tZONE\tACTION\tCATCH UP\tNEXT FIRES\tLAST RUN\tRESULT\tREPLICA")
	for _, r := range rows {
		next := make([]string, len(r.Next))
		for i, t := range r.Next {
			next[i] = t.Format("2006-01-02 15:04 MST")
		}
		last, result, replica := "never", "-", "-"
		if lr := r.LastRun; lr != nil {
			last = lr.Fire.Format(time.RFC3339) + " (" + now.Sub(lr.Fire).Round(time.Minute).String() + " ago)"
			result, replica = lr.Result, lr.Replica
			if lr.Action == schedules.ActionRescanOlderThan {
				result += fmt.Sprintf(", %d found, %d sent", lr.Found, lr.Sent)
				if lr.Failed > 0 {
					result += fmt.Sprintf(", %d failed", lr.Failed)
				}
			}
			if lr.Error != "" {
				result += " (" + lr.Error + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\t%s\t%s\t%s\n", r.Name, r.Cron, r.Timezone, r.Action, r.CatchUp,
			strings.Join(next, ", "), last, result, replica)
	}
	return tw.Flush()
}
