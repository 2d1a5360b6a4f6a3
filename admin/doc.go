// Package admin is the bridge's admin HTTP API (and the same views of dead
// letters as text, for the bridge dlq command), for an operator who fixed
// the cause of dead letters (or decided they are not worth fixing): list
// and inspect them, redrive them into the job stream, purge them. It changes
// nothing unless told so explicitly: redrive and purge are dry runs unless
// dry_run is false. It is off unless a bearer token is configured; then
// every request needs one (docs/dead-letters.md, "The admin API").
//
// Routes: GET /admin/dlq, GET /admin/dlq/{seq}, POST /admin/dlq/redrive and
// POST /admin/dlq/purge; and, read-only, the image lifecycles (package
// lifecycle): GET /api/v1/images?namespace=&image=&tag=&state=&limit= and
// GET /api/v1/images/pending (what waits, oldest first). All are counted
// by scanbridge_admin_actions_total{action, outcome}. Register adds them to the admin listener's Echo, which handlers
// builds (never to the webhook listener's), so they share its request ids,
// recovery and error handling.
//
// Why its own package: the webhook intake (handlers) stores jobs through
// its own Publisher interface and needs none of queue's types, while this
// API is built on queue's dead-letter stream and its types. Kept apart,
// handlers does not import queue, and a change to one surface does not
// touch the other.
//
// Dependencies: admin imports queue (its Filter, DeadLetter and report
// types, used as they are; the DeadLetters interface is the part of
// *queue.DeadLetters it needs, so tests drive it with an in-memory fake),
// lifecycle (its Record and Filter; the Images interface is the part of
// *lifecycle.Store it needs),
// Echo and the Prometheus client. It must not import handlers (cmd/bridge
// hands it handlers' Echo; the arrow stays cmd/bridge → admin → queue),
// hssclient (it never calls HSS: redriven jobs reach HSS through the
// consumer, under its rate limit) or cmd/bridge.
package admin
