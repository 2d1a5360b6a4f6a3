// Package handlers is the HTTP face of the bridge: the webhook route, the
// receivers behind it (name → format, auth, HSS target), the answers a
// registry gets, and the health and readiness probes.
//
// It builds the Echo of each of the bridge's two listeners. The webhook
// listener (NewEcho) serves /webhooks/*, /healthz and /readyz and nothing
// else, because it faces the registries; the admin listener
// (NewAdminEcho) serves /metrics, and cmd/bridge adds the admin API and
// pprof to it.
//
// The path of one webhook is: in-flight cap → receiver lookup →
// authenticate (from the headers alone where the method allows it, so an
// unauthenticated sender's body is never read; else the raw body, read under
// the receiver's byte budget) → per-receiver rate limit → decode with the
// receiver's format (package formats) → cap the jobs per request →
// normalize each push into a scanjob.Job → validate every job against the
// HSS limits and the OCI name grammar → publish every job and wait for the
// store → 202. Nothing is published unless every
// job of the body is valid, and 202 is never sent before every job is
// stored (the false-200 loss of argo-events#3448 is what this order avoids).
//
// The receivers and the routes of one configuration are one immutable
// snapshot that a request reads once, when it starts; Reload (reload.go)
// checks a new configuration whole and swaps the snapshot, so a reload
// neither drops a request in flight nor shows it half a configuration, and
// a receiver that did not change keeps its rate-limit bucket and replay
// memory.
//
// handlers stores jobs only through the Publisher interface, so tests can
// drive it without NATS where that is the point, and the real JetStream
// publisher where it is not. It must not import queue (cmd/bridge adapts
// the queue to Publisher), admin (the admin API is its own package, which
// cmd/bridge registers on the Echo NewAdminEcho returns), hssclient or
// cmd/bridge.
package handlers
