// Package sources polls registries for pushes that send no webhook, and
// sweeps behind webhook receivers for the notifications they lost.
//
// A source (config: sources[]) names a registry, a schedule, credentials
// and optional repository globs. Where a round learns the repositories
// and their tags' digests is a lister (lister.go), one per kind:
//
//   - kind registry (any OCI distribution API, go-containerregistry):
//     the repositories (the catalog, paged, or the include list when it
//     names repositories outright), each repository's tags (paged, at
//     most limits.max_tags) and a HEAD of each tag's manifest for its
//     digest;
//   - kind swr (Huawei SWR basic edition, which sends no push webhook;
//     package swrclient): the repositories with their update times
//     (ListReposDetails, of the literal namespaces or of all), and, of
//     each repository whose update time is not its checkpoint's, the
//     tags with their digests (ListRepositoryTags); no HEAD.
//
// The rest is the same for both. A tag whose digest is not the
// one in the repository's checkpoint is a push: it goes through the
// webhook path's own normalize, route and validate
// (handlers.Server.PlanPolled, with the shared push rules of
// formats.Polled) and is stored by the same publisher, so it becomes the
// same job, with the same id, as a webhook of the same push, and a push
// seen by both is one job. Rounds are bounded in repositories, pages and
// time; a round that stops at a limit records where the next goes on.
//
// Checkpoints (tag → digest per repository, and for kind swr the
// repository's update time when its tags last all settled), the last round and the
// leases live in one JetStream KV bucket (Bucket). Exactly one replica
// polls a source at a time: the one holding the source's lease, which is
// the watcher's lease of package scanner (a compare-and-set on one key,
// taken over when the holder stops renewing it), passed in as Lease so
// this package does not depend on the HSS side. A replica that takes a
// lease over waits out the interval since the last round any replica
// ran.
//
// A sweep (sweep_for: <receiver>) plans its jobs as that receiver's, so
// their ids are the webhook's; an image it stores that the stream did not
// already hold (the duplicate window) and that has no lifecycle record is
// one the webhook never announced, and scanbridge_sweep_found_total
// counts it, from the end of the source's first pass over the registry on
// (what exists before is no webhook's loss).
//
// Dependencies: handlers (the plan and the Publisher contract),
// handlers/formats, scanjob, lifecycle (keys and records), swrclient
// (and through it hssclient's AK/SK signer, the one scheme of every
// Huawei Cloud API, and nothing else of hssclient), go-containerregistry,
// nats.go, golang.org/x/time/rate and the Prometheus client. It must not
// import queue, scanner, admin or cmd/bridge: a poll reaches the queue
// only as a webhook does, through the publisher cmd/bridge passes, and
// knows nothing of HSS's scans.
package sources
