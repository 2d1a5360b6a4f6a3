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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scan-bridge/scan-bridge/admin"
	"github.com/scan-bridge/scan-bridge/natsconn"
	"github.com/scan-bridge/scan-bridge/queue"
)

// `bridge dlq` works on the dead-letter stream of a running bridge: the
// jobs HSS refused on their own after bisection, and messages that were not
// jobs. It talks to the bridge's NATS only; it never calls HSS. A redriven
// job goes back into the job stream, and the bridge's consumer sends it
// under the same rate limit as any other job.

// dlqOptions are the flags every dlq subcommand shares.
type dlqOptions struct {
	config  string
	natsURL string
}

func newDLQCmd() *cobra.Command {
	o := &dlqOptions{}
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, show, redrive and purge dead letters (jobs HSS refused)",
		Long: "dlq works on the dead-letter stream of a running bridge, over its NATS: nats.url, or,\n" +
			"when the bridge embeds NATS, the embedded server's client address nats.listen (off by\n" +
			"default; the embedded store is locked by the running bridge), logging in as user bridge\n" +
			"with the password file the bridge made (<nats.data_dir>/client.password, or\n" +
			"nats.listen_password_file). Give it the bridge's own config (-c) so it finds the same\n" +
			"streams, settings and credentials. redrive and purge are dry runs unless --yes is given.",
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&o.config, "config", "c", "", "the bridge's YAML config file")
	pf.StringVar(&o.natsURL, "nats-url", "", "NATS URL (default nats.url, else nats://<nats.listen>)")
	cmd.AddCommand(newDLQListCmd(o), newDLQShowCmd(o), newDLQRedriveCmd(o), newDLQPurgeCmd(o))
	return cmd
}

// filterFlags select dead letters; list, redrive and purge share them, so
// `dlq list` with the same flags shows what the others would act on.
type filterFlags struct {
	namespace string
	errorCode string
	reason    string
	olderThan time.Duration
	limit     int
}

func (f *filterFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.namespace, "namespace", "", "only this namespace (exact)")
	fl.StringVar(&f.errorCode, "error-code", "", "only this HSS error_code (exact)")
	fl.StringVar(&f.reason, "reason", "", "only records parked for this reason (exact), e.g. rejected or not_in_swr")
	fl.DurationVar(&f.olderThan, "older-than", 0, "only records dead-lettered longer ago than this, e.g. 72h")
	fl.IntVar(&f.limit, "limit", 0, "stop after this many records, oldest first (0: all)")
}

func (f filterFlags) filter() (queue.Filter, error) {
	if f.olderThan < 0 {
		return queue.Filter{}, fmt.Errorf("--older-than %s: want a positive duration", f.olderThan)
	}
	if f.limit < 0 {
		return queue.Filter{}, fmt.Errorf("--limit %d: want 0 (all) or more", f.limit)
	}
	return queue.Filter{Namespace: f.namespace, ErrorCode: f.errorCode, Reason: f.reason, OlderThan: f.olderThan, Limit: f.limit}, nil
}

// actFlags make redrive and purge dry runs unless asked to act.
type actFlags struct {
	dryRun bool
	yes    bool
}

func (a *actFlags) register(fl *pflag.FlagSet, verb string) {
	fl.BoolVar(&a.dryRun, "dry-run", true, "only print what would be "+verb+" (the default); --dry-run=false acts")
	fl.BoolVar(&a.yes, "yes", false, "act: same as --dry-run=false")
}

// act reports whether to change anything.
func (a actFlags) act(fl *pflag.FlagSet) (bool, error) {
	if a.yes {
		if fl.Changed("dry-run") && a.dryRun {
			return false, errors.New("--yes and --dry-run=true contradict each other")
		}
		return true, nil
	}
	return !a.dryRun, nil
}

func newDLQListCmd(o *dlqOptions) *cobra.Command {
	var (
		f      filterFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, oldest first",
		Example: "  bridge dlq list -c bridge.yaml\n" +
			"  bridge dlq list -c bridge.yaml --namespace team --error-code HSS.0011 --json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flt, err := f.filter()
			if err != nil {
				return err
			}
			return o.run(cmd, func(ctx context.Context, q *queue.Queue) error {
				recs, err := q.DeadLetters().List(ctx, flt)
				if err != nil {
					return err
				}
				if asJSON {
					return admin.WriteJSONLines(cmd.OutOrStdout(), recs)
				}
				return admin.WriteTable(cmd.OutOrStdout(), recs)
			})
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON record per line instead of a table")
	return cmd
}

func newDLQShowCmd(o *dlqOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "show SEQ",
		Short: "Print one dead letter in full, as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || seq == 0 {
				return fmt.Errorf("SEQ %q: want the sequence `bridge dlq list` shows, a positive integer", args[0])
			}
			return o.run(cmd, func(ctx context.Context, q *queue.Queue) error {
				rec, err := q.DeadLetters().Get(ctx, seq)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(admin.DeadLetterRecord{Seq: seq, DeadLetter: rec})
			})
		},
	}
}

func newDLQRedriveCmd(o *dlqOptions) *cobra.Command {
	var (
		f     filterFlags
		a     actFlags
		batch int
		pause time.Duration
	)
	cmd := &cobra.Command{
		Use:   "redrive",
		Short: "Put dead-lettered jobs back into the job stream (dry run unless --yes)",
		Long: "redrive republishes the job of every selected record into the job stream under a new\n" +
			"message id, then deletes the record. Fix the cause first (the image, the receiver's\n" +
			"target, the HSS side): a job refused again comes back as a new dead letter.\n" +
			"The bridge's consumer sends redriven jobs to HSS under its rate limit; this command\n" +
			"never calls HSS. Records without a job (malformed messages) are skipped: purge them.",
		Example: "  bridge dlq redrive -c bridge.yaml --error-code HSS.0011          # dry run\n" +
			"  bridge dlq redrive -c bridge.yaml --error-code HSS.0011 --yes",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flt, err := f.filter()
			if err != nil {
				return err
			}
			act, err := a.act(cmd.Flags())
			if err != nil {
				return err
			}
			// Always paced: a --batch of 0 would mean no pauses at all.
			if batch < 1 {
				return fmt.Errorf("--batch %d: want at least 1", batch)
			}
			stderr := cmd.ErrOrStderr()
			pace := queue.Pace{Batch: batch, Pause: pause, Progress: func(n int) { fmt.Fprintf(stderr, "%d republished, pausing %s\n", n, pause) }}
			if err := pace.Validate(); err != nil {
				return fmt.Errorf("--batch, --pause: %w", err)
			}
			out := cmd.OutOrStdout()
			return o.run(cmd, func(ctx context.Context, q *queue.Queue) error {
				stream := q.Config().Stream.Name
				if !act {
					recs, err := preview(ctx, q, flt, out)
					if err != nil {
						return err
					}
					jobs := 0
					for _, r := range recs {
						if r.Job != nil {
							jobs++
						}
					}
					fmt.Fprintf(out, "dry run: would redrive %d job(s) into stream %s and skip %d record(s) without a job; nothing changed.\n"+
						"Run again with --yes to redrive.\n", jobs, stream, len(recs)-jobs)
					return nil
				}
				rep, err := q.DeadLetters().Redrive(ctx, flt, false, queue.WithPace(pace))
				admin.WriteRedriveReport(out, stream, rep)
				return err
			})
		},
	}
	f.register(cmd.Flags())
	a.register(cmd.Flags(), "redriven")
	cmd.Flags().IntVar(&batch, "batch", queue.DefaultRedriveBatch, "republish this many jobs, then pause")
	cmd.Flags().DurationVar(&pause, "pause", queue.DefaultRedrivePause, "pause between batches")
	return cmd
}

func newDLQPurgeCmd(o *dlqOptions) *cobra.Command {
	var (
		f filterFlags
		a actFlags
	)
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete dead letters for good (dry run unless --yes)",
		Example: "  bridge dlq purge -c bridge.yaml --older-than 720h          # dry run\n" +
			"  bridge dlq purge -c bridge.yaml --older-than 720h --yes",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flt, err := f.filter()
			if err != nil {
				return err
			}
			act, err := a.act(cmd.Flags())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return o.run(cmd, func(ctx context.Context, q *queue.Queue) error {
				if !act {
					recs, err := preview(ctx, q, flt, out)
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "dry run: would purge %d record(s); nothing changed.\nRun again with --yes to purge.\n", len(recs))
					return nil
				}
				seqs, err := q.DeadLetters().Purge(ctx, flt, false)
				fmt.Fprintf(out, "purged %d record(s)%s\n", len(seqs), admin.SeqList(seqs))
				return err
			})
		},
	}
	f.register(cmd.Flags())
	a.register(cmd.Flags(), "purged")
	return cmd
}

// preview prints the records a redrive or purge would act on, for its dry
// run, and returns them.
func preview(ctx context.Context, q *queue.Queue, flt queue.Filter, out io.Writer) ([]queue.DeadLetter, error) {
	recs, err := q.DeadLetters().List(ctx, flt)
	if err != nil {
		return nil, err
	}
	return recs, admin.WriteTable(out, recs)
}

// run loads the config, connects, attaches to the bridge's streams (which
// changes nothing on the server), runs fn and disconnects.
func (o *dlqOptions) run(cmd *cobra.Command, fn func(context.Context, *queue.Queue) error) error {
	cfg, err := loadConfig(o.config, nil)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Warnings only: the commands print their own results.
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	nc, err := natsconn.Dial(ctx, cfg.NATS.Config, o.natsURL, "scan-bridge-dlq")
	if err != nil {
		return fmt.Errorf("%w (is the bridge running?)", err)
	}
	defer nc.Close()
	url := nc.ConnectedUrlRedacted()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	q, err := queue.Attach(actx, js, cfg.Queue, log)
	if err != nil {
		return attachError(err, url)
	}
	return fn(ctx, q)
}

// attachError says what to do when the bridge's streams are missing or
// were set up with another config, naming settings as the config file does.
func attachError(err error, url string) error {
	var mm *queue.MismatchError
	if errors.As(err, &mm) {
		lines := make([]string, len(mm.Mismatches))
		for i, m := range mm.Mismatches {
			lines[i] = "queue." + m.String()
		}
		return fmt.Errorf("the config differs from what the bridge set up on %s; run with the bridge's own config (-c):\n  %s",
			url, strings.Join(lines, "\n  "))
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("%s: %w (start the bridge first, or give the bridge's own config with -c)", url, err)
	}
	return fmt.Errorf("%s: %w", url, err)
}
