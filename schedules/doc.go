// Package schedules runs scans on a clock: cron schedules (config:
// schedules[]) that either ask HSS for a full scan (operate_all with the
// API reference's filters) or rescan the images whose last scan is older
// than an age, by sending their jobs again.
//
// Why a package: a schedule is neither a push (handlers) nor a poll of a
// registry (sources); it starts work that the rest of the bridge already
// knows how to do. A full scan is one batch-scan through the FullScanner
// cmd/bridge passes (scanner.HSS.Send: the same quota scheduler, call
// slot and shared limiter as every other batch-scan); a rescan re-sends
// each old image's job (lifecycle.Record.Job) into the job stream through
// the Resender cmd/bridge passes (scanner.JobStream, the watcher's way of
// sending a job again) under the message id "<job id>-sched-<fire unix>",
// so it takes the push path whole: presence check, packing, watch,
// result event.
//
// Once across replicas: every replica runs every schedule's clock, and
// before it runs a fire it claims it: it creates the key
// "claim.<schedule>.<fire unix>" in the Bucket KV bucket (Create: the
// first replica wins, the others skip that fire). Claims carry a per-key
// TTL (ClaimTTL) so the bucket cleans itself. The last run of each
// schedule is kept under "last.<schedule>" for `bridge schedules list`,
// for catch-up and for the last-run metric.
//
// A fire missed while no replica ran (all down, or a run that overran the
// next fire) is not run late, unless the schedule sets catch_up: then the
// latest missed fire runs once, as soon as a replica notices (at start, or
// after a run that overran), and only if the schedule ran before (a last
// run is recorded): a new schedule does not fire on deploy. A run that did
// not end is caught up as well: one cut off by a shutdown gives its claim
// back and is recorded as interrupted; one whose replica was killed keeps
// its claim until it is older than the schedule's timeout, then another
// replica takes it over (Schedule.Fire, claimFire). A replica catches such
// a run up when it starts, or, running all along, at its next read of the
// last run (once a minute with catch_up: Schedule.resume).
//
// The clock is robfig/cron's parser (5 fields or a descriptor such as
// @daily, in the schedule's timezone); this package does its own waiting
// so that tests drive it with synctest or call Fire for a given time.
//
// Dependencies: scanjob, lifecycle (the records and their jobs),
// hssclient (the batch-scan request), robfig/cron, nats.go and the
// Prometheus client. It must not import queue, scanner, handlers, admin
// or cmd/bridge: it reaches HSS and the job stream only through the
// interfaces cmd/bridge fills.
package schedules
