package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/scan-bridge/scan-bridge/admin"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/natsconn"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// `bridge status` shows the lifecycle of pushed images (package lifecycle)
// as the running bridge records it: where an image is on its way to a
// finished HSS scan, since when, why, and what HSS last said. Like `bridge
// dlq`, it reads the bridge's NATS and never calls HSS, and it changes
// nothing: it opens the lifecycle bucket without creating it.

type statusOptions struct {
	natsFlags
	bucket  string
	pending bool
	limit   int
}

func newStatusCmd() *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status IMAGE[:TAG] | --pending",
		Short: "Show the scan lifecycle of an image, or every image still waiting",
		Long: "status reads the image lifecycles the bridge keeps on its NATS (the KV bucket\n" +
			"scanbridge_images): for IMAGE[:TAG] (namespace/image as the bridge names it, without\n" +
			"the registry host; without a tag every tag), each record with its times, reason, HSS\n" +
			"findings, last HSS answer and state history; with --pending, every image whose\n" +
			"lifecycle has not ended, oldest first, and why it waits. It connects as `bridge dlq`\n" +
			"does: give it the bridge's own config (-c). Finished images are kept for a week.",
		Example: "  bridge status -c bridge.yaml team/app:v1\n" +
			"  bridge status -c bridge.yaml team/app --json\n" +
			"  bridge status -c bridge.yaml --pending",
		Args: func(cmd *cobra.Command, args []string) error {
			if o.pending {
				if len(args) != 0 {
					return errors.New("give either IMAGE[:TAG] or --pending, not both")
				}
				return nil
			}
			if len(args) != 1 {
				return errors.New("give one IMAGE[:TAG] (e.g. team/app:v1), or --pending")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.limit < 1 || o.limit > lifecycle.MaxLimit {
				return fmt.Errorf("--limit %d: want 1 to %d", o.limit, lifecycle.MaxLimit)
			}
			var f lifecycle.Filter
			if !o.pending {
				var err error
				if f, err = parseImageArg(args[0]); err != nil {
					return err
				}
				f.Limit = o.limit
			}
			return o.run(cmd, func(ctx context.Context, s *lifecycle.Store) error {
				out := cmd.OutOrStdout()
				if o.pending {
					recs, err := s.Pending(ctx, o.limit)
					if err != nil {
						return err
					}
					if o.asJSON {
						return admin.WriteImagesJSONLines(out, recs)
					}
					if len(recs) == 0 {
						_, err := fmt.Fprintln(out, "no image is waiting: every lifecycle has ended")
						return err
					}
					return admin.WriteImagesTable(out, recs, time.Now())
				}
				recs, err := s.List(ctx, f)
				if err != nil {
					return err
				}
				if len(recs) == 0 {
					return fmt.Errorf("no lifecycle record for %s in bucket %s (never pushed to this bridge, or finished more than %s ago)",
						args[0], s.Config().Bucket, s.Config().TerminalTTL)
				}
				if o.asJSON {
					return admin.WriteImagesJSONLines(out, recs)
				}
				for i, r := range recs {
					if i > 0 {
						fmt.Fprintln(out)
					}
					if err := admin.WriteImageLifecycle(out, r); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	o.register(fl, "one JSON record per line instead of text")
	fl.StringVar(&o.bucket, "bucket", "", "the lifecycle KV bucket (default lifecycle.bucket of -c, else "+lifecycle.DefaultBucket+")")
	fl.BoolVar(&o.pending, "pending", false, "list every image whose lifecycle has not ended, oldest first")
	fl.IntVar(&o.limit, "limit", lifecycle.DefaultLimit, fmt.Sprintf("show at most this many images (at most %d)", lifecycle.MaxLimit))
	return cmd
}

// parseImageArg reads IMAGE[:TAG]: namespace/image, then an optional tag
// after the last ':' of the last path segment.
func parseImageArg(arg string) (lifecycle.Filter, error) {
	repo, tag := arg, ""
	if i := strings.LastIndexByte(arg, ':'); i > strings.LastIndexByte(arg, '/') {
		repo, tag = arg[:i], arg[i+1:]
		if tag == "" {
			return lifecycle.Filter{}, fmt.Errorf("IMAGE %q: empty tag after ':'", arg)
		}
	}
	ns, image := scanjob.SplitRepository(repo)
	if ns == "" || image == "" {
		return lifecycle.Filter{}, fmt.Errorf("IMAGE %q: want namespace/image[:tag], e.g. team/app:v1", arg)
	}
	return lifecycle.Filter{Namespace: ns, Image: image, Tag: tag}, nil
}

// run loads the config, connects, attaches to the lifecycle bucket (which
// changes nothing on the server), runs fn and disconnects.
func (o *statusOptions) run(cmd *cobra.Command, fn func(context.Context, *lifecycle.Store) error) error {
	cfg, err := loadConfig(o.config, nil)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nc, err := natsconn.Dial(ctx, cfg.NATS.Config, o.natsURL, "scan-bridge-status")
	if err != nil {
		return fmt.Errorf("%w (is the bridge running?)", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The bucket is the bridge's (lifecycle.bucket of -c) unless --bucket
	// names another; replicas do not matter to a reader.
	lc := cfg.Lifecycle.Store(1)
	if o.bucket != "" {
		lc.Bucket = o.bucket
	}
	s, err := lifecycle.Attach(actx, js, lc)
	if errors.Is(err, lifecycle.ErrNoBucket) {
		return fmt.Errorf("%s: %w (start a bridge that records lifecycles first, or give the bridge's own config with -c)", nc.ConnectedUrlRedacted(), err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", nc.ConnectedUrlRedacted(), err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer rcancel()
	return fn(rctx, s)
}
