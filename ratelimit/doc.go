// Package ratelimit paces the bridge's calls to a rate-limited API (HSS
// batch-scan) and adapts the pace to the API's refusals. Its limiters'
// Wait is hssclient.Pacer; Feedback tells them how each call ended.
//
// Why: HSS allows a user five calls per minute per API (600 per minute per
// API over all users), and its API gateway answers 429 APIGW.0308 beyond
// that (HSS API reference, "Limitations and Constraints",
// https://support.huaweicloud.com/intl/en-us/api-hss2.0/hss_02_0005.html).
// The quota belongs to the deployment's user, not to a replica: N replicas
// each holding a process-local limiter at 5/min make 5N calls a minute.
// That is what a process-local limiter does when scaled out, e.g. Argo
// Events' trigger rate limit (a go.uber.org/ratelimit limiter per sensor
// process, initRateLimiter in
// https://github.com/argoproj/argo-events/blob/master/pkg/sensors/listener.go),
// Watermill's Throttle middleware (a time.Tick per process,
// https://github.com/ThreeDotsLabs/watermill/blob/master/message/router/middleware/throttle.go)
// and Redpanda Connect's "local" rate limit, which "does not support
// distributed rate limits across multiple running instances"
// (https://docs.redpanda.com/connect/components/rate_limits/local/). And the
// quota may be shared with other clients of the same user, so even a
// correct ceiling can meet 429s: the rate must come down by itself and
// climb back when the refusals stop.
//
// Two limiters:
//
//   - Adaptive: one process. A GCRA (generic cell rate algorithm: one
//     "theoretical arrival time", equivalent to a token bucket of size
//     Burst) in memory, whose rate an AIMD rule moves: a 429 halves the
//     rate (down to a floor, default one call per 5 minutes) and starts a
//     pause of one new interval; each clean call (IncreaseAfter, default
//     1) adds IncreaseStep (default a tenth of the ceiling), up to the
//     configured ceiling and never above it. At most one cut per Holdoff
//     (default the gateway's one-minute window): 429s within it are echoes
//     of calls made before the cut.
//
//   - Shared: every replica. The same GCRA and AIMD rule (state.go, one
//     code for both) whose whole state (theoretical arrival time, current
//     rate, success run, cut time and generation) is one JSON value in one
//     key of a JetStream KV bucket (default SCANBRIDGE_LIMITS, history 1,
//     1 replica embedded / 3 in a cluster, created idempotently by every
//     replica). Wait reads the key, takes the next slot and writes it back
//     with a compare-and-set on the revision (kv.Create for a missing key,
//     kv.Update otherwise); a conflict means another replica took a slot,
//     so it retries after a jittered pause (1 to 64 ms). Then it sleeps
//     until its slot: a reservation, so N waiting replicas do not stampede
//     at every slot. A reservation the caller abandons is given back when
//     nobody wrote after it. Because the rate lives in the same value, a
//     429 seen by one replica slows all of them. A waiter whose slot was
//     priced before a cut takes a new one after it (the old one stays
//     spent: right after a 429, erring slow is right).
//
// The quota's edge. Calls exactly 60 s / rate apart put the (rate+1)-th
// call exactly a minute after the first, and a gateway counting a strict
// sliding window refuses it as soon as the first was a little late or the
// last a little early: measured, the 6th call of a run landed 59.9999 s
// after the 1st and was answered 429. So every interval is stretched by
// Margin (default 2 %: 12.24 s at 5/min), which puts the (rate+1)-th call
// 60 s × (1 + Margin) after the first at any rate: 1.2 s of slack for
// clock estimates and network latency to differ between calls.
// edge_test.go runs three replicas for 30 virtual minutes with clock
// estimates off by up to ±100 ms and 0-500 ms between permit and gateway
// in front of the strictest window: no refusal with the margin, refusals
// without it.
//
// Recovery. After a 429 the rate climbs back by a tenth of the ceiling
// per clean call, and each raise also brings the next slot closer (the
// slot after the last call was priced at the old rate). At the default
// 5/min, with a backlog to send, the rate after each clean call is:
//
//	429 at 0 s           → 2.5/min, next call 24.48 s later
//	clean call at 24.5 s → 3.0/min
//	clean call at 44.9 s → 3.5/min
//	clean call at 62.4 s → 4.0/min
//	clean call at 77.7 s → 4.5/min
//	clean call at 91.3 s → 5.0/min, the ceiling: 91 s after the 429
//
// From the floor (five cuts, each at least a Holdoff apart, while someone
// else spends the whole quota) the first clean call comes one floor
// interval (5 min 6 s) after the last cut, and the tenth clean call
// (0.7, 1.2, ... 4.7, 5.0/min) reaches the ceiling 288 s after the first.
// The earlier rule, a step per five clean calls spaced at the rate before
// each step, took seven and a half minutes from one cut and over half an
// hour from the floor. The price of the faster climb: when another client
// keeps spending part of the same user's quota, the rate meets its next
// 429 sooner (DefaultIncreaseAfter). TestRecoveryAfterA429 checks both
// curves.
//
// Refunds. Take is Wait returning the Permit (Taker): a permit no call
// used (the scanner found none of a batch's images in HSS yet) is given
// back with Permit.Refund, which moves TAT back by one interval (less when
// part of it has passed), never before now, and not at all once the rate
// was cut or changed since; the shared limiter does it by compare-and-set
// like any other write. The state after a refund is never more permissive
// than the history without the unused grant, so the calls made stay
// spaced as the GCRA spaces them (state.go's refund has the argument).
// A caller already waiting for a later slot (reserved while the unused
// permit was out) is woken and moves its slot back by as much; on the
// shared limiter only the refunding replica's waiters are woken, the
// others keep their slots (the slow side).
//
// MemoryStore (memory.go) is the shared state kept in this process's
// memory: several Shared limiters on one MemoryStore are replicas on one
// key, which lets callers test many replicas on a fake clock
// (testing/synctest), where a NATS server cannot run.
//
// Clock. The TAT is an absolute time, so replicas must agree on the clock.
// Shared computes on the NATS server's clock: it reads the bucket's stream
// info (which the server, the stream leader in a cluster, stamps with its
// own time) and keeps the offset from the sample with the shortest round
// trip, re-measured every ClockRefresh (30 s); the local side is a
// monotonic clock, so an NTP step on a replica does not move it. The error
// left is half a round trip (Stats.ClockUncertainty), plus, in a cluster,
// the skew between NATS servers when the stream leader changes: NATS
// servers are assumed NTP-synced, replicas need not be. KV entries'
// Created() is on the same clock but says when the last write happened,
// not what time it is, so it is not used. A server older than 2.10 gives
// no time; then the local clocks are used (and logged).
//
// KV unavailable. Shared fails closed: Wait grants nothing while the KV
// cannot be reached, retrying with backoff until its ctx is done, and then
// returns an error matching both the ctx error and ErrUnavailable. There
// is deliberately no fallback to a local limiter: each replica falling
// back at the full rate would overrun the quota N-fold, and falling back
// at rate/N needs an N the replicas do not know. It also gains nothing:
// the job queue lives in the same NATS, so while it is down no job can be
// fetched or acknowledged, and a scan made meanwhile would be repeated on
// redelivery. Open fails when JetStream cannot be reached.
//
// Cost: with permits to spare a Wait is two round trips (Get, Update),
// about 70-80 µs against an embedded server on loopback
// (BenchmarkSharedWait); a Wait that sleeps adds a Get on waking (has the
// rate been cut meanwhile?), and every ClockRefresh one stream-info
// request. Feedback costs two round trips when it changes the state and
// none for a success at the ceiling. At a few calls a minute none of it
// matters; the one key serialises all replicas, which bounds the cluster
// to some thousands of permits a second, far above any HSS quota.
//
// Dependencies: the standard library and nats.go (jetstream). It must not import hssclient, queue, scanner, handlers or
// cmd/bridge: the scanner package wires it in (Wait in scanner.HSS.Acquire,
// Feedback after each BatchScan with throttled = status 429) so that it
// stays a leaf.
package ratelimit
