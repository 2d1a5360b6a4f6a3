// Package security is the attack suite of scan-bridge. It runs the real
// bridge binary as a subprocess, on loopback, and makes each attack the
// webhook port is meant to withstand once it faces the internet; each test
// asserts the limit that answers it:
//
//   - 400 unauthenticated senders, each trickling a 1 MiB body, at a
//     token receiver and at an hmac receiver: the bridge's peak RSS stays
//     at or under 120 MiB, /healthz answers throughout and nothing is
//     stored;
//   - 400 messages of nearly the NATS maximum payload published at the
//     NATS intake: the same memory bound, and the bridge stays ready;
//   - a Quay push of 110,000 tags: 413, nothing stored;
//   - names with CR LF, NUL, '*' or U+202E: 400, nothing stored;
//   - an unknown receiver and a wrong secret: the same status and body;
//   - an X-Request-Id of 10 KiB or holding a CR: not echoed;
//   - /metrics, /admin and /debug/pprof on the webhook port: 404; /admin
//     without a token on the admin port: 401; pprof on the admin port
//     only when debug.pprof is on;
//   - a raw NATS client against the default configuration's embedded
//     server: refused, or no port at all.
//
// The memory scenarios assert memory and liveness, never durations: the
// suite runs beside the rest of go test ./... on a shared machine. Each
// scenario prints one line of figures (attack, answers, peak RSS, limit)
// and TestMain prints them as a table at the end.
//
// Why a subprocess, as in package faults: RSS is a process's, and a test
// in the bridge's own process would count itself. The bridge is reached
// the way an attacker reaches it: the binary built from cmd/bridge, a
// config file, loopback HTTP and NATS, raw TCP where a well-behaved client
// would refuse to send what the attack needs.
//
// The package holds tests and their helpers only; this file is its one
// non-test file. It imports queue only for the job stream's default name
// and natstest as the external NATS server; it must not import cmd/bridge
// (a main package, and the point is to test the built binary), handlers or
// admin (the answers are read as a sender reads them). Linux only: it
// reads /proc/<pid>/status for the bridge's RSS and /proc/<pid>/fd for its
// sockets.
package security
