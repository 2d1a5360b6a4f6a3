package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/scan-bridge/scan-bridge/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the configuration, or print it as the bridge reads it",
	}
	cmd.AddCommand(newConfigCheckCmd(), newConfigPrintCmd())
	return cmd
}

// serveFlags are serve's flags that change settings, on config check and
// config print too, so that they see the configuration serve would run
// with.
type serveFlags struct {
	path   string
	listen string
	dryRun bool
}

func (f *serveFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.path, "config", "c", "", "YAML config file")
	cmd.Flags().StringVar(&f.listen, "listen", "", "HTTP listen address (overrides http.listen), as for serve")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "HSS replaced by the built-in simulator, as for serve")
}

func (f *serveFlags) override(cmd *cobra.Command) func(*config.Config) {
	return func(c *config.Config) {
		if cmd.Flags().Changed("listen") {
			c.HTTP.Listen = f.listen
		}
		if cmd.Flags().Changed("dry-run") {
			c.DryRun = f.dryRun
		}
	}
}

func newConfigCheckCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the configuration without starting anything",
		Long: "check reads the config file and the BRIDGE_* variables as serve does and lists\n" +
			"every problem, one per line: unknown keys and variables, bad values, receivers,\n" +
			"routes and their templates, the secret, password and token files, the NATS data\n" +
			"dir, and the HSS credentials (unless --dry-run). It starts nothing, connects to\n" +
			"nothing, and exits non-zero when anything is wrong.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Check(f.path, os.Environ, f.override(cmd), hssCredentials)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), cfg.Summary())
			return err
		},
	}
	f.add(cmd)
	return cmd
}

// hssCredentials builds the HSS client as serve does, which reads the
// credentials and their files without calling HSS.
func hssCredentials(c config.Config) error {
	if c.DryRun {
		return nil
	}
	_, err := newHSS(c, nil, slog.New(slog.DiscardHandler))
	return err
}

func newConfigPrintCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration, each value with its source, secrets redacted",
		Long: "print writes every setting as YAML, as serve would run with it: the file and the\n" +
			"BRIDGE_* variables over the defaults, the flags over both, with each value's\n" +
			"source as a comment (default, file, env BRIDGE_..., flag). Secrets are shown as\n" +
			"[redacted], so the output can go into a ticket. It refuses unknown keys; use\n" +
			"bridge config check for the rest.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return config.Print(cmd.OutOrStdout(), f.path, os.Environ, f.override(cmd))
		},
	}
	f.add(cmd)
	return cmd
}
