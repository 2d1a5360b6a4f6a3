// Package natsconn is the bridge's NATS plumbing: it starts the embedded
// nats-server (JetStream on nats.data_dir) when no NATS URL is configured,
// opens the bridge's own long-lived connection, checks readiness, retries
// JetStream set-up requests, and dials the running bridge's NATS for the
// commands that need it (bridge dlq, bridge scan).
//
// Why a package: every command reaches the same NATS with the same
// settings (a flag, else nats.url, else the embedded server's listen
// address; credentials from the config), and the embedded server guards
// the job stream: whoever can publish on it decides what the consumer
// signs and sends to HSS. So where the server listens, who may log in and
// how the password file is made are written once, here, and tested on
// their own, instead of being repeated per command in cmd/bridge.
//
// The embedded server's store is guarded too: one bridge per data dir (a
// lock file, bridge.lock, with the holder's pid), a data dir proved
// writable before the server starts, and the server's own log routed to
// the bridge's, so a start that fails says why (a port in use, a
// read-only volume) instead of timing out.
//
// Dependencies: nats-server (the embedded server), nats.go and its
// jetstream package, and the standard library. It must not import any
// other package of this module: it knows nothing of jobs, queues or HSS,
// and cmd/bridge wires it to them.
package natsconn
