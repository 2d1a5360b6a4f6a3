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
// run), ratelimit, scanjob, queue for the Scanner contract and the Verdict
// and Class types it implements, nats.go's jetstream (for the shared
// limiter's bucket) and the Prometheus client. It must not import handlers,
// admin or cmd/bridge. The arrow between queue and scanner points one way:
// the consumer knows HSS only through queue.Scanner.
package scanner
