// Package faults is the fault suite of scan-bridge. It runs the real bridge
// binary as a subprocess against a NATS server and the fake HSS (hsstest),
// injects every fault the bridge promises to survive, and checks the fake
// HSS's records against the webhooks that were answered 202: lost must be 0.
//
// The faults: SIGKILL during intake, while batches wait for a rate permit
// and while HSS calls are in flight, with an external NATS and with the
// embedded one (restarted on the same data dir); NATS shut down and started
// again; HSS answering 503, timing out and throttling with 429 APIGW.0308;
// a poison item among good ones, then its redrive; SIGTERM under load with
// calls held in flight; and one registry delivery retried. Every scenario
// prints one line of figures (accepted, delivered, lost, duplicates, time
// to drain, peak RSS) and TestMain prints them as a table at the end. A
// long mode (SCANBRIDGE_FAULTS_LONG=1) adds a 100k-job backlog and a longer
// outage; docs/faults.md says how to run both.
//
// Why a subprocess: a crash is the kernel killing a process, which an
// in-process test (cmd/bridge's e2e tests) cannot do to itself, and the
// embedded NATS server only loses what a real process loses when it dies.
//
// The package holds tests and their helpers only; this file is its one
// non-test file. It reaches the bridge the way an operator does: the binary
// built from cmd/bridge, a config file, loopback HTTP and NATS, and the
// binary's own commands (bridge dlq). It imports queue only for its config
// and dead-letter record types, hsstest as the HSS, bridgeproc to build and
// measure the binary (shared with security/) and natstest as the
// external NATS server; it must not import cmd/bridge (a main package, and
// the point is to test the built binary) or handlers (the answers are read
// as a sender reads them). Linux only: it reads /proc/<pid>/status for the
// bridge's RSS.
package faults
