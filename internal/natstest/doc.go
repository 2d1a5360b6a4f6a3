// Package natstest runs a nats-server with JetStream inside the test
// process, as net/http/httptest runs an HTTP server: a real server on
// loopback, not a mock of a client interface, started by Start and shut down
// by t.Cleanup. It also holds Eventually, the polling helper for states that
// have no event to wait on.
//
// Why one package: the queue, the rate limiter, the NATS intake, the fault
// suite and the bridge's end-to-end tests all need the same server (a store
// on a t.TempDir, a random port, logging and signals off) and some of them
// the same restart on the same port and store, which is how the bridge's
// embedded server comes back after a restart. Written once, a fix (a longer
// start-up bound on a loaded machine, a shutdown that waits) reaches every
// test.
//
// It is for tests only, and it must not import any other package of this
// module: the packages whose tests use it would otherwise import themselves.
package natstest
