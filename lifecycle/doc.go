// Package lifecycle is the shared record of every pushed image on its way
// to a finished HSS scan: one record per image in a JetStream KV bucket,
// the rules for moving it from state to state, the result event published
// when it ends, and the metrics read from the records. It makes no HSS
// calls: the driver (queue and scanner) asks HSS and moves the records;
// the admin API and `bridge status` read them.
//
// # States
//
//	accepted ──▶ waiting_presence ◀──▶ sync_requested
//	   │              │   ▲                 │
//	   │              ▼   │                 │
//	   └────────▶ scan_requested ◀──────────┘
//	                  │   ▲
//	                  ▼   │
//	               scanning
//	                  │
//	   ┌──────────────┼───────────────┐
//	   ▼              ▼               ▼
//	scanned      scan_failed       given_up   (terminal; any state
//	                                           before them may give up)
//	   └──────────────┴───────────────┴──▶ accepted (a new push or rescan)
//
// transition.go holds the table; Update refuses any other step with a
// *TransitionError. A scan result may come before the bridge saw the scan
// start, so scan_requested may go straight to scanned or scan_failed. A
// finished record goes back only to accepted, and only by a new push or a
// rescan (Begin), which starts a new Generation of the same key.
//
// # Why a KV bucket
//
// What every reader wants is the latest state of one image, and what
// every writer needs is to change it without a second replica changing it
// at the same time. A KV bucket (history 1) keeps exactly the latest
// value per key, and its revision is a compare-and-set token: Update reads
// a record and writes it back only if the revision did not move, so two
// replicas that both try to advance an image cannot both succeed (the
// loser re-reads and decides again). A stream of transitions would keep
// every step, but a reader would have to fold it to learn the state and
// two writers could append contradicting steps. The bucket is watchable
// (List, Counts), file-stored and replicated like the job stream, so a
// restart of the bridge, of a replica or of NATS continues every
// lifecycle where it was. Finished records get a per-key TTL
// (TerminalTTL, default 7 days) and expire on their own; records in
// progress never expire. MaxBytes bounds the bucket: a full bucket refuses
// new records rather than dropping old ones.
//
// # Keys
//
// KeyOf makes the key from the identity of an image: target, namespace,
// image, tag and digest (and the SWR Enterprise instance). It is
// "<namespace>.<image>.<tag>.<digest>.<target>": names kept readable when
// they are made of letters, digits, '-', '_' and '/', escaped byte by byte
// ("=2E" for a dot) otherwise, hashed when the escaped form would be
// longer than 160 characters, "=_" when empty; the target is a hash. The
// namespace is a token of its own, so "team.>" is the filter of one
// namespace (key.go has the details; FuzzKeyOf holds every key valid and
// distinct identities apart).
//
// # Results
//
// When an image reaches a terminal state, Publisher.Finish writes the
// terminal record and then publishes one CloudEvent on
// scanbridge.results.<namespace> into the SCANBRIDGE_RESULTS stream
// (events.go says why and in which order).
//
// # Metrics
//
// Every replica reports the same cluster-wide numbers for
// scanbridge_images and scanbridge_oldest_unscanned_image_age_seconds,
// read from the bucket: dashboards and alerts should take max() over the
// replicas, not sum().
//
// Dependencies: lifecycle imports scanjob (the identity of an image is a
// job's), nats.go and the Prometheus client. It must not import queue,
// scanner, hssclient, handlers, admin or cmd/bridge: they use it, and the
// record must not depend on how HSS is asked or how jobs are queued.
package lifecycle
