package main

import "github.com/spf13/pflag"

// natsFlags are the flags every command that reads a running bridge's NATS
// shares (status, sources, schedules): its config, a NATS URL over the
// config's, and JSON output.
type natsFlags struct {
	config  string
	natsURL string
	asJSON  bool
}

// register adds the flags to fl; jsonHelp words --json for the command.
func (f *natsFlags) register(fl *pflag.FlagSet, jsonHelp string) {
	fl.StringVarP(&f.config, "config", "c", "", "the bridge's YAML config file")
	fl.StringVar(&f.natsURL, "nats-url", "", "NATS URL (default nats.url, else nats://<nats.listen>)")
	fl.BoolVar(&f.asJSON, "json", false, jsonHelp)
}
