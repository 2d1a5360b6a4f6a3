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
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/queue"
)

// `bridge dlq` works on the dead-letter stream of a running bridge: the
// jobs HSS refused on their own after bisection, and messages that were not
// jobs. It talks to the bridge's NATS only; it never calls HSS. A redriven
// job goes back into the job stream, and the bridge's consumer sends it
// under the same rate limit as any other job.

// Defaults of the redrive pacing: 100 republishes, then a pause of a
// second. That is about what HSS drains (5 calls a minute of up to 1000
// items), so a large redrive neither fills the job stream's max_bytes (and
// makes webhooks answer 503) nor grows the duplicate window's memory much
// faster than the consumer empties the stream.
const (
	defaultRedriveBatch = 100
	defaultRedrivePause = time.Second
)

// Limits that come from how queue.DeadLetters reads the stream: through an
// ephemeral consumer that fetches up to 256 records at a time and that the
// server deletes after a minute without a fetch. Pauses between two fetches
// must stay well inside that minute, or a slow redrive loses its reader
// half-way.
const (
	dlqReadAhead = 256
	dlqMaxIdle   = 30 * time.Second
)

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
			"when the bridge embeds NATS, the embedded server's client address nats.listen\n" +
			"(default 127.0.0.1:4222; the embedded store is locked by the running bridge).\n" +
			"Give it the bridge's own config (-c) so it finds the same streams with the same\n" +
			"settings. redrive and purge are dry runs unless --yes is given.",
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
	olderThan time.Duration
	limit     int
}

func (f *filterFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.namespace, "namespace", "", "only this namespace (exact)")
	fl.StringVar(&f.errorCode, "error-code", "", "only this HSS error_code (exact)")
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
	return queue.Filter{Namespace: f.namespace, ErrorCode: f.errorCode, OlderThan: f.olderThan, Limit: f.limit}, nil
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
			return o.run(cmd, nil, func(ctx context.Context, s *dlqSession) error {
				recs, err := s.dl.List(ctx, flt)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSONLines(cmd.OutOrStdout(), recs)
				}
				return writeTable(cmd.OutOrStdout(), recs)
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
			return o.run(cmd, nil, func(ctx context.Context, s *dlqSession) error {
				rec, err := s.dl.Get(ctx, seq)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(handlers.DeadLetterRecord{Seq: seq, DeadLetter: rec})
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
			p, err := newPacer(batch, pause)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			p.progress = func(n int) { fmt.Fprintf(cmd.ErrOrStderr(), "%d republished, pausing %s\n", n, pause) }
			return o.run(cmd, p, func(ctx context.Context, s *dlqSession) error {
				if !act {
					recs, err := preview(ctx, s, flt, out)
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
						"Run again with --yes to redrive.\n", jobs, s.cfg.Stream.Name, len(recs)-jobs)
					return nil
				}
				rep, err := s.dl.Redrive(ctx, flt, false)
				writeRedriveReport(out, s.cfg.Stream.Name, rep)
				return err
			})
		},
	}
	f.register(cmd.Flags())
	a.register(cmd.Flags(), "redriven")
	cmd.Flags().IntVar(&batch, "batch", defaultRedriveBatch, "republish this many jobs, then pause")
	cmd.Flags().DurationVar(&pause, "pause", defaultRedrivePause, "pause between batches")
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
			return o.run(cmd, nil, func(ctx context.Context, s *dlqSession) error {
				if !act {
					recs, err := preview(ctx, s, flt, out)
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "dry run: would purge %d record(s); nothing changed.\nRun again with --yes to purge.\n", len(recs))
					return nil
				}
				seqs, err := s.dl.Purge(ctx, flt, false)
				fmt.Fprintf(out, "purged %d record(s)%s\n", len(seqs), seqList(seqs))
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
func preview(ctx context.Context, s *dlqSession, flt queue.Filter, out io.Writer) ([]queue.DeadLetter, error) {
	recs, err := s.dl.List(ctx, flt)
	if err != nil {
		return nil, err
	}
	return recs, writeTable(out, recs)
}

// dlqSession is a connection to the bridge's JetStream and its dead letters.
type dlqSession struct {
	dl  *queue.DeadLetters
	cfg queue.Config // defaults applied
}

// run loads the config, connects, checks that the streams are the
// bridge's, runs fn and disconnects. p, when set, paces the republishes.
func (o *dlqOptions) run(cmd *cobra.Command, p *pacer, fn func(context.Context, *dlqSession) error) error {
	cfg, err := loadConfig(o.config, nil)
	if err != nil {
		return err
	}
	url, err := dlqNATSURL(cfg.NATS, o.natsURL)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Warnings only: the commands print their own results.
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := []nats.Option{nats.Name("scan-bridge-dlq"), nats.Timeout(5 * time.Second)}
	if cfg.NATS.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATS.CredsFile))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("connect nats %s (is the bridge running?): %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	qcfg := cfg.Queue.WithDefaults()
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := checkDeployed(octx, js, qcfg, url); err != nil {
		return err
	}
	// queue has no constructor that binds to existing streams without
	// creating or updating them, so Open it with the same settings;
	// checkDeployed made sure that is a no-op on the server.
	var qjs jetstream.JetStream = js
	if p != nil {
		qjs = pacedJetStream{JetStream: js, p: p}
	}
	q, err := queue.Open(octx, qjs, qcfg, log, nil)
	if err != nil {
		return err
	}
	return fn(ctx, &dlqSession{dl: q.DeadLetters(), cfg: q.Config()})
}

// dlqNATSURL is where the CLI finds the bridge's JetStream: the flag, then
// nats.url, then the running bridge's embedded server at nats.listen. The
// embedded server's data dir cannot be opened instead: the bridge holds it.
func dlqNATSURL(c NATSConfig, flag string) (string, error) {
	switch {
	case flag != "":
		return flag, nil
	case c.URL != "":
		return c.URL, nil
	case c.Listen != "":
		return "nats://" + c.Listen, nil
	}
	return "", errors.New("no NATS to connect to: nats.url is empty and the embedded server does not listen " +
		"(nats.listen is empty); set nats.listen on the bridge, or give --nats-url")
}

// checkDeployed makes sure the streams and the durable consumer exist and
// have the settings cfg would give them, because queue.Open creates or
// updates them: run with another config (or none), it would otherwise
// change the running bridge's setup, e.g. shorten the job stream's max_age
// and so delete waiting jobs.
func checkDeployed(ctx context.Context, js jetstream.JetStream, cfg queue.Config, url string) error {
	var diffs []string
	diff := func(setting string, server, config any) {
		if s, c := fmt.Sprint(server), fmt.Sprint(config); s != c {
			diffs = append(diffs, fmt.Sprintf("%s: %s on the server, %s in the config", setting, s, c))
		}
	}
	storage := jetstream.FileStorage
	if cfg.Stream.Storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	stream, err := js.Stream(ctx, cfg.Stream.Name)
	if err != nil {
		return notDeployed("stream "+cfg.Stream.Name, url, err)
	}
	sc := stream.CachedInfo().Config
	diff("queue.stream.subject_prefix", sc.Subjects, []string{cfg.Stream.SubjectPrefix + ".>"})
	diff("queue.stream.max_age", sc.MaxAge, cfg.Stream.MaxAge)
	diff("queue.stream.duplicates", sc.Duplicates, cfg.Stream.Duplicates)
	diff("queue.stream.max_bytes", sc.MaxBytes, cfg.Stream.MaxBytes)
	diff("queue.stream.replicas", sc.Replicas, cfg.Stream.Replicas)
	diff("queue.stream.storage", sc.Storage, storage)

	dlq, err := js.Stream(ctx, cfg.DLQ.Name)
	if err != nil {
		return notDeployed("dead-letter stream "+cfg.DLQ.Name, url, err)
	}
	dc := dlq.CachedInfo().Config
	diff("queue.dlq.subject_prefix", dc.Subjects, []string{cfg.DLQ.SubjectPrefix + ".>"})
	diff("queue.dlq.max_age", dc.MaxAge, cfg.DLQ.MaxAge)
	diff("queue.dlq.replicas", dc.Replicas, cfg.DLQ.Replicas)
	diff("queue.stream.duplicates (dead-letter stream)", dc.Duplicates, cfg.Stream.Duplicates)

	cons, err := stream.Consumer(ctx, cfg.Consumer.Durable)
	if err != nil {
		return notDeployed("consumer "+cfg.Consumer.Durable, url, err)
	}
	cc := cons.CachedInfo().Config
	diff("queue.consumer.heartbeat (ack_wait is 3 heartbeats)", cc.AckWait, cfg.Consumer.AckWait())
	diff("queue.consumer.max_held (max_ack_pending is 4×max_held)", cc.MaxAckPending, cfg.Consumer.MaxAckPending())
	if len(diffs) > 0 {
		return fmt.Errorf("the config differs from what the bridge set up on %s, and opening the queue would change it; "+
			"run with the bridge's own config (-c):\n  %s", url, strings.Join(diffs, "\n  "))
	}
	return nil
}

func notDeployed(what, url string, err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("%s not found on %s: start the bridge first, or give the bridge's own config (-c): %w", what, url, err)
	}
	return fmt.Errorf("look up %s on %s: %w", what, url, err)
}

// pacer spaces the republishes of a redrive: after every batch it pauses.
// Safe for concurrent use.
type pacer struct {
	batch    int
	pause    time.Duration
	progress func(done int) // called before each pause; may be nil

	mu sync.Mutex
	n  int
}

func newPacer(batch int, pause time.Duration) (*pacer, error) {
	if batch < 1 {
		return nil, fmt.Errorf("--batch %d: want at least 1", batch)
	}
	if pause < 0 {
		return nil, fmt.Errorf("--pause %s: want 0 or more", pause)
	}
	if idle := time.Duration((dlqReadAhead+batch-1)/batch) * pause; idle > dlqMaxIdle {
		return nil, fmt.Errorf("--batch %d with --pause %s pauses %s per %d records read; keep it within %s "+
			"(larger batches or shorter pauses), or the server drops the reader half-way", batch, pause, idle, dlqReadAhead, dlqMaxIdle)
	}
	return &pacer{batch: batch, pause: pause}, nil
}

// wait returns when the next publish may go: at once within a batch,
// after the pause between batches, or when ctx is done.
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n > 0 && p.n%p.batch == 0 && p.pause > 0 {
		if p.progress != nil {
			p.progress(p.n)
		}
		t := time.NewTimer(p.pause)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.n++
	return nil
}

// published is how many publishes wait let through.
func (p *pacer) published() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// pacedJetStream is the JetStream handle the CLI gives queue.Open for a
// redrive: DeadLetters.Redrive republishes through PublishMsg, which waits
// for the pacer first. Everything else passes through.
type pacedJetStream struct {
	jetstream.JetStream
	p *pacer
}

func (j pacedJetStream) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if err := j.p.wait(ctx); err != nil {
		return nil, fmt.Errorf("publish %s: %w", msg.Subject, err)
	}
	return j.JetStream.PublishMsg(ctx, msg, opts...)
}

// writeTable prints records as a table, one per line.
func writeTable(w io.Writer, recs []queue.DeadLetter) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "no dead letters match")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tFAILED AT\tIMAGE\tSTATUS\tERROR CODE\tATTEMPTS\tREQUEST ID")
	for _, r := range recs {
		status := "-"
		if r.Status != 0 {
			status = strconv.Itoa(r.Status)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Seq, r.FailedAt.UTC().Format(time.RFC3339), recordImage(r),
			status, orDash(r.ErrorCode), r.Attempts, orDash(r.RequestID))
	}
	return tw.Flush()
}

// recordImage is namespace/image:tag, or what the record is when it holds
// no job.
func recordImage(r queue.DeadLetter) string {
	if r.Job != nil {
		return r.Job.Repository() + ":" + r.Job.Tag
	}
	reason := r.Reason
	if reason == "" {
		reason = "undecodable record"
	}
	return "(" + reason + ") " + r.Subject
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeJSONLines prints one record per line, as the admin API shows them.
func writeJSONLines(w io.Writer, recs []queue.DeadLetter) error {
	enc := json.NewEncoder(w)
	for _, r := range recs {
		if err := enc.Encode(handlers.DeadLetterRecord{Seq: r.Seq, DeadLetter: r}); err != nil {
			return fmt.Errorf("write dead letter %d: %w", r.Seq, err)
		}
	}
	return nil
}

// writeRedriveReport prints what a redrive did (also when it stopped
// half-way, so the operator knows where it stopped).
func writeRedriveReport(w io.Writer, stream string, rep queue.RedriveReport) {
	for _, r := range rep.Redriven {
		dup := ""
		if r.Duplicate {
			dup = " (already stored by an earlier redrive)"
		}
		fmt.Fprintf(w, "redriven %d → %s seq %d, msg id %s%s\n", r.Seq, stream, r.NewSeq, r.MsgID, dup)
	}
	fmt.Fprintf(w, "redrove %d job(s) into stream %s; the bridge sends them to HSS under its rate limit.\n", len(rep.Redriven), stream)
	if len(rep.Skipped) > 0 {
		fmt.Fprintf(w, "skipped %d record(s) without a job%s: look at them with `bridge dlq show SEQ`, then purge them.\n",
			len(rep.Skipped), seqList(rep.Skipped))
	}
}

// seqList is " (seq 1, 2, 3)", shortened past ten.
func seqList(seqs []uint64) string {
	if len(seqs) == 0 {
		return ""
	}
	parts := make([]string, 0, min(len(seqs), 10)+1)
	for _, s := range seqs[:min(len(seqs), 10)] {
		parts = append(parts, strconv.FormatUint(s, 10))
	}
	if len(seqs) > 10 {
		parts = append(parts, fmt.Sprintf("… %d more", len(seqs)-10))
	}
	return " (seq " + strings.Join(parts, ", ") + ")"
}

// tokens are the admin API's bearer tokens: admin.token and every line of
// admin.token_file. None leaves the admin API off.
func (c AdminConfig) tokens() ([]string, error) {
	var out []string
	if t := strings.TrimSpace(c.Token); t != "" {
		out = append(out, t)
	}
	if c.TokenFile == "" {
		return out, nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("admin.token_file: %w", err)
	}
	n := len(out)
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if len(out) == n {
		// Meant to switch the admin API on; an empty file (a secret not
		// mounted yet) must not leave it silently off.
		return nil, fmt.Errorf("admin.token_file %s holds no token", c.TokenFile)
	}
	return out, nil
}
