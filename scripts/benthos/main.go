// Command benthos is Benthos's MIT-licensed core engine
// (github.com/redpanda-data/benthos/v4) with its io and pure components and
// one output added here, nats_jetstream, so scripts/bench.sh can run the
// pipeline "http_server → nats_jetstream" next to the bridge. The published
// Benthos distribution carries that output; this module builds the same
// pipeline from the core engine because the distribution cannot be fetched
// where the benchmark runs. See README.md in this directory for how it
// differs.
//
// Besides Benthos's own command line it has one subcommand the benchmark
// needs, because the nats_jetstream output, like the original, does not
// create streams:
//
//	benthos create-stream -nats URL -name NAME -subjects 'a.>'
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redpanda-data/benthos/v4/public/service"

	// The core bundles: http_server is in io; pure has the pipeline basics.
	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "create-stream" {
		if err := createStream(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "create-stream:", err)
			os.Exit(1)
		}
		return
	}
	service.RunCLI(context.Background())
}

// createStream makes the stream the output publishes into, configured as
// cmd/loadtest's reference handler makes its own (file storage, 10 minute
// duplicate window), so the two differ only in what serves the request.
func createStream(args []string) error {
	fs := flag.NewFlagSet("create-stream", flag.ContinueOnError)
	url := fs.String("nats", nats.DefaultURL, "NATS URL")
	name := fs.String("name", "BENTHOS", "stream name")
	subjects := fs.String("subjects", "benthos.>", "comma-separated subjects the stream captures")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nc, err := nats.Connect(*url)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", *url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: *name, Subjects: strings.Split(*subjects, ","),
		Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute,
	}); err != nil {
		return fmt.Errorf("stream %s: %w", *name, err)
	}
	return nil
}
