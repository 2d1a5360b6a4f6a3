// Package scanner is the HSS side of the bridge: it turns the queue's
// batches into HSS batch-scan calls and says what each outcome means for
// the batch's messages. HSS implements queue.Scanner: Acquire takes a call
// slot (hss.max_concurrent) and a permit of the one rate limiter (ratelimit:
// adaptive, and shared by every replica through JetStream KV when
// hss.shared_limit is on), Scan makes the call through hssclient and tells
// the limiter whether HSS throttled it, and Judge maps hssclient's Class to
// queue.Accepted, Retry or Permanent. Send is the same path for a scan an
// operator asks for by hand (bridge scan). Config holds the hss.* settings:
// target defaults, credentials, rate, concurrency and call timeout.
//
// Quota (quota.go) is the one scheduler of every HSS call: HSS gives each
// user 5 calls a minute per API, so it keeps one budget (a ratelimit
// limiter, shared by the replicas through one KV key per API) per API, and
// within an API serves the push path (scans, presence checks, syncs)
// before the watch's polls. HSS.UseQuota puts batch-scan under it.
//
// Presence before scan (presence.go, presence_hss.go; hss.presence_check,
// on by default): HSS scans only images it already knows in SWR, and a
// push webhook arrives before a registry's replication into SWR ends.
// Before, such an image failed the call (400 HSS.0011, or a 200 that
// scans nothing), the queue bisected the batch and dead-lettered the
// image. Now Scan first splits the items by what ListSwrImageRepository
// shows (one call per target and image type answers for every waiting
// image: an update-time window since the oldest waiting job, all
// namespaces, pages of 200, a few pages at most, at most one check every
// 12 s; rows matched exactly by namespace, name, tag and digest). Known
// items are batch-scanned; the others are returned as deferred in a
// *queue.Partial (backoff by the job's age: 15 s doubling to 5 min, on a
// wall-clock grid so waiting items come back together), after
// at most one RunImageSynchronize per target and image type per
// hss.sync_interval (never for instance_image, which that API cannot
// sync), and given up as not_in_swr once a complete check after the
// receiver's presence_timeout (default 30 min) still did not find them. A
// 400 HSS.0011 from batch-scan drops the target's cache and defers the
// call's items briefly instead of failing them. List and sync calls wait
// on the Quota at push priority (the one batch-scan uses after UseQuota,
// else a process-local one). With UseLifecycle, each image's transitions
// (waiting_presence / sync_requested, scan_requested with the call's start
// time, given_up through the lifecycle publisher) are written before Scan
// returns, so a job is acked only after its scan_requested record is
// stored; without the gate, Scan writes scan_requested itself the same
// way. Every HSS call Scan makes (list, sync, batch-scan) has one INFO
// line with the API, the images, HSS's request id, the result and the job
// ids. A dry run keeps the gate on: Scan reports each job's push to the
// simulator (hsstest's Pushed: replicated into its SWR after a lag, known
// after a sync), so its log shows the whole lifecycle. Send (bridge scan)
// never goes through the gate.
//
// Permits are not wasted: the consumer takes a batch-scan permit before
// the gate looks (queue.PermitScanner's AcquirePermit) and hands it to
// the Scan made under it; released without a batch-scan sent under it (no
// item known, the list failed), it is refunded to the limiter
// (ratelimit.Permit.Refund), so a burst of pushes that HSS does not know
// yet does not hold up the known images behind it.
//
// Why a package: the consumer's HSS calls are the running data path, and
// package main, which reads flags and files, should only wire it: it builds
// an HSS from the configuration and hands it to queue.Queue.NewConsumer.
// Here the path is tested on its own (outcome classification, rate
// feedback, the concurrency bound), and the rest of a scan's lifecycle can
// join it without growing cmd/bridge.
//
// Pacing has one owner: this package. hssclient's optional Pacer is left
// unset, because the permit is taken in Acquire, before the queue packs a
// call, and the client must not wait a second time; the concurrency bound
// is here too, and only here.
//
// Dependencies: hssclient (and hsstest, the in-process simulator of a dry
// run), ratelimit, scanjob, lifecycle (the image records the gate
// writes and the watcher moves), queue for the Scanner contract and the
// Verdict, Class and Partial types it implements, nats.go's jetstream (for the shared
// limiter's bucket) and the Prometheus client. It must not import handlers,
// admin or cmd/bridge. The arrow between queue and scanner points one way:
// the consumer knows HSS only through queue.Scanner.
package scanner
