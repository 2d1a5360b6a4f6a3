// Package queue owns everything JetStream: the job stream and the
// dead-letter stream, the durable pull consumer, the publisher that stores a
// scan job before a webhook is answered, and the batching consumer that
// turns stored jobs into rate-limited HSS batch-scan calls.
//
// Why it exists: HSS allows a handful of batch-scan calls per minute and
// user (five; HSS API reference, "Limitations and Constraints",
// https://support.huaweicloud.com/intl/en-us/api-hss2.0/hss_02_0005.html),
// registries push in bursts and retry deliveries, and a job must outlive a
// bridge restart and an HSS outage. So jobs are stored
// once (Nats-Msg-Id = scanjob.Job.ID), grouped per target and namespace,
// packed many to a call, kept alive while they wait (InProgress), and only
// acknowledged once HSS accepted them. Poison items are isolated by
// bisection and parked in the dead-letter stream, from where DeadLetters can
// list, redrive or purge them.
//
// The stream drops a retried job by its id only while the server runs: a
// WorkQueue deletes acked jobs and a restarted server rebuilds its
// duplicate window from stored ones only. So the ids of the jobs HSS
// accepted are also kept for one duplicate window in a KV bucket (the
// accepted set, SCANJOBS_ACCEPTED), and a delivered job found there is
// acked without a second scan.
//
// One call may settle its items differently. HSS scans only images it
// already knows in SWR, and a push webhook arrives before the image is
// replicated into SWR and synchronised into HSS: such an item is not the
// call's failure, and bisecting the call for it (Permanent) would spend the
// scan quota on its good neighbours again and dead-letter a scan that
// succeeds minutes later. So Scan may return a *Partial: Deferred items are
// nakked with the scanner's delay (not a failure: no bisection, counted as
// result "deferred"), GivenUp items go to the dead-letter stream with the
// scanner's reason (ReasonNotInSWR), and the rest are settled by
// Partial.Err as a whole call is. Only the rest of an accepted call is
// recorded in the accepted set. Queue.DeadLetterJob dead-letters a job
// whose message was acked already (the watcher gives up a scan HSS never
// finished: ReasonScanTimeout); a redrive of either reason gives the job a
// new AcceptedAt, since both deadlines count from it.
//
// The flow, one line: Publish → stream SCANJOBS → Consumer (accepted-set
// lookup, target allow-list, groups, linger, permits from Scanner.Acquire,
// pack: everything waiting for the permit's target, deficit round robin
// across namespaces) → Scanner.Scan → record accepted ids, Ack; or Nak
// with backoff, bisect, or Term + dead letter; per item for a Partial
// (deferred: NakWithDelay; given up: Term + dead letter). A
// PermitScanner's permit travels with its call (WithPermit on Scan's ctx),
// so the scanner can give back a permit no HSS call used.
//
// Dependencies: queue imports scanjob, nats.go (jetstream) and the
// Prometheus client. It must not import handlers, hssclient, scanner or
// cmd/bridge: it reaches HSS only through the Scanner interface that package
// scanner implements on top of hssclient, so the dependency arrows keep
// pointing one way (cmd/bridge → admin → queue; cmd/bridge → scanner →
// queue.Scanner; scanner → hssclient).
package queue
