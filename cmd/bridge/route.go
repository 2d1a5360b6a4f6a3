package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/scan-bridge/scan-bridge/handlers"
)

// newRouteCmd shows what an event would become at a receiver: the jobs,
// the rule that shaped each, what is ignored and why. It needs no NATS and
// no HSS, and stores nothing: it is what a user runs while wiring a
// registry.
func newRouteCmd() *cobra.Command {
	var (
		path, receiver, event string
		headers               []string
	)
	cmd := &cobra.Command{
		Use:     "route --config F --receiver R --event FILE",
		Short:   "Print the scan jobs an event would produce at a receiver, and why",
		Example: "  bridge route --config bridge.yaml --receiver harbor --event push.json\n  cat push.json | bridge route -c bridge.yaml -r registry --event -",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path, nil)
			if err != nil {
				return err
			}
			recvs, err := cfg.FilledReceivers()
			if err != nil {
				return err
			}
			srv, err := handlers.New(handlers.Config{MaxBodyBytes: cfg.HTTP.MaxBodyBytes, PublishTimeout: cfg.HTTP.PublishTimeout,
				Receivers: recvs, Routes: cfg.Routes}, handlers.Options{})
			if err != nil {
				return err
			}
			var body []byte
			if event == "-" {
				body, err = io.ReadAll(cmd.InOrStdin())
			} else {
				body, err = os.ReadFile(event)
			}
			if err != nil {
				return fmt.Errorf("read event: %w", err)
			}
			h := http.Header{}
			for _, kv := range headers {
				k, v, ok := strings.Cut(kv, ":")
				if !ok {
					return fmt.Errorf("--header %q: use 'Name: value'", kv)
				}
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			ex, err := srv.Explain(receiver, h, body)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(ex); err != nil {
				return err
			}
			if len(ex.Errors) > 0 {
				return fmt.Errorf("the bridge would refuse this event (400): %s", strings.Join(ex.Errors, "; "))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "YAML config file")
	cmd.Flags().StringVarP(&receiver, "receiver", "r", "", "receiver name")
	cmd.Flags().StringVarP(&event, "event", "e", "", "event body file, - for stdin")
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "request header 'Name: value' (for formats that read headers)")
	_ = cmd.MarkFlagRequired("receiver")
	_ = cmd.MarkFlagRequired("event")
	return cmd
}
