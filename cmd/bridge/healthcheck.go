package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// newHealthcheckCmd probes a running bridge. The container image is FROM
// scratch, with no curl or shell, so the binary probes itself for Docker's
// HEALTHCHECK.
func newHealthcheckCmd() *cobra.Command {
	var url, path string
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the bridge at --url answers /healthz (or --path) with 200",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("probe %s: %w", url+path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("probe %s: status %d", url+path, resp.StatusCode)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://"+net.JoinHostPort("127.0.0.1", "8080"), "base URL of the bridge")
	cmd.Flags().StringVar(&path, "path", "/healthz", "probe path: /healthz (alive) or /readyz (ready)")
	return cmd
}
