// Package notify sends the result events of finished images to outbound
// webhooks, so a CI job or a chat channel learns an image's result
// without polling the bridge.
//
// # Design
//
// Each configured webhook is a durable JetStream pull consumer
// (scanbridge-notify-<name>) on the results stream that package lifecycle
// publishes into (SCANBRIDGE_RESULTS, one CloudEvent per finished
// image). That one choice gives the properties a webhook needs:
//
//   - It never blocks the pipeline: the scan path publishes the event
//     and is done; delivery happens here, from the stream, later.
//   - It survives restarts: the consumer remembers what was delivered,
//     so a restart neither loses nor resends an event (an event whose
//     acknowledgement was lost may be sent twice with the same
//     webhook-id; receivers deduplicate by it).
//   - Replicas share the work: every replica reads the same durable
//     consumer and JetStream hands each event to one of them.
//   - Webhooks are independent: each has its own consumer, so a slow or
//     failing receiver retries on its own schedule and holds up no other
//     webhook. A single consumer fanning out would have to track which
//     webhooks took each event, which is what separate consumers do.
//
// Matching (receivers, namespace globs, results) is done here, not with
// subject filters: a glob over namespaces has no subject filter. An event
// a webhook does not want is acknowledged and skipped.
//
// # Delivery
//
// An event is POSTed as the structured CloudEvent the stream holds,
// byte for byte, signed with the Standard Webhooks scheme (sign.go).
// 2xx delivers; 408, 429, 5xx and network errors retry with an
// exponential backoff with jitter (NakWithDelay: the stream keeps the
// event meanwhile) until max_age or max_attempts; any other status is
// given up at once. A give-up is an ERROR log and
// scanbridge_notify_deliveries_total{result="given_up"}. The URL is
// never logged (a chat webhook's URL is its credential), nor any secret;
// at most 200 bytes of a response are.
//
// Bounds: at most MaxWebhooks webhooks, max_in_flight deliveries each, at
// most maxAckPending events of a webhook out of the stream at a time.
//
// Dependencies: notify imports lifecycle (the event it delivers), nats.go
// and the Prometheus client. It must not import queue, scanner,
// hssclient, handlers, admin, config or cmd/bridge: it reads only the
// results stream, and config and cmd/bridge build it.
package notify
