// Package hsstest is a fake Huawei Cloud HSS for its container-image APIs,
// as net/http/httptest is to net/http: a real HTTP server on 127.0.0.1
// (NewServer, URL, Close), an http.Handler (Fake), and an in-process
// http.RoundTripper (Fake.Transport) for the bridge's --dry-run simulator
// and for tests under testing/synctest.
//
// # The APIs
//
// It serves batch-scan (BatchScanSwrImage), the SWR image list
// (ListSwrImageRepository), the image sync (RunImageSynchronize) and their
// successors (CreateManualImageScanTask, ListImageScanTask,
// CreateImageSynchronizeTask, ListRegistryImages), named by the API*
// constants.
//
// It is strict so that a wrong request fails here before it fails at
// Huawei, and it accepts exactly what the official SDK sends (hssclient's
// sdk_apis_test.go sends the SDK's own requests here): exact method and
// path; the region header where the SDK's request model has it, and
// refused where it has none (ListImageScanTask, ListRegistryImages); a
// JSON content type, GETs included; only the query parameters of the
// model, each once and within its documented range; no body on a GET;
// bodies decoded with unknown fields refused and every field limit,
// enumeration and rule checked; AK/SK signatures verified (15 minutes of
// clock skew) or IAM tokens checked against those it issued at POST
// /v3/auth/tokens (with a configurable lifetime, so refresh is testable)
// or was given. It answers with the APIs' error bodies (400 HSS.0001,
// HSS.0002 and HSS.0011, 401 APIG.0301/APIG.0307, 404 APIG.0101, 429).
//
// # The image lifecycle
//
// Real HSS scans only images it knows, and learns SWR's images only by a
// sync; the bridge must survive every step of that, so the fake models it
// (catalog.go):
//
//   - SWR and HSS are apart: PushToSWR makes a tag exist in SWR (from a
//     given time, so a replication lag is a push in the future); HSS knows
//     it only after a sync (RunImageSynchronize, CreateImageSynchronizeTask
//     or Synchronize) that completes Options.SyncDelay later, or, with
//     Options.AutoSyncAfter, that long after the push without one. A
//     re-pushed tag keeps HSS's old digest until the next sync.
//   - Scans take time: a scanned image shows waiting_for_scan for
//     Options.ScanQueueDelay, then scanning for Options.ScanDuration, then
//     success with findings derived from its name (DefaultFindings, or
//     SetFindings) or the failure FailScan set; latest_scan_time is when
//     the scan ended, latest_update_time when HSS learned the image, and
//     during a rescan the list shows the previous result's time and counts.
//   - An image HSS does not know is answered as Options.UnknownImages
//     says: UnknownImageSilent200 (the default: 200, nothing scanned) or
//     UnknownImage400 (400 HSS.0011 for the whole call). Real HSS's answer
//     is undocumented; a client must handle both.
//   - The lists serve the catalog with their filters. Names match exactly
//     (real HSS may match by substring); rows come by HSS's record id, the
//     order HSS learned the images, so paging is stable; total_num counts
//     every matching row. APIs without a region header answer for every
//     region of the project.
//   - Scan and sync tasks are listed by ListImageScanTask, newest first,
//     with a numeric task_status (progress, 100 when done) and the failed
//     images; every RunImageSynchronize is listed as a manualSync task too.
//
// States are computed from recorded times and the clock at each question,
// never by timers, so a test that moves the clock sees each step exactly
// when it is due, and the fake starts no goroutine.
//
// The simulator (SimulatorOptions) stands in for the registry too: the
// bridge's dry run reports each push it takes with Pushed, and the tag
// reaches SWR after a replication lag (ReplicationDelay); HSS learns it
// after a sync or an automatic one (AutoSyncAfter), so the dry run's
// presence check, sync, scan and watch meet HSS's order of things and
// its log shows the whole lifecycle (accepted, waiting_presence,
// scan_requested, scanning, scanned). For a scan asked for by hand, where
// nothing reports a push, Options.AssumeInSWR makes every image a scan
// names exist in SWR from that moment.
//
// # Throttling, counters, faults
//
// With Options.CallsPerMinute (GatewayCallsPerMinute is the gateway's 5)
// each API is throttled per identity (access key or token user) in a
// sliding minute, each API on its own budget as at HSS, with
// APICallsPerMinute overriding single APIs; over it the fake answers 429
// with the gateway's message. Calls(api) counts calls, 429s, other
// refusals and items per API; Requests and Items record accepted
// batch-scans, Refusals every refused request; Catalog shows every image's
// state. Faults (Inject, FailNext, RefuseImage) change answers for N
// calls or a time window: statuses, delays, held calls, connection
// resets; Fault.APIs aims one at other APIs than batch-scan.
//
// Its checks and its signature verifier are written from the API
// reference, the SDK models and the signing spec, not by reusing
// hssclient's Validate or signer: a bug there must show up as a refusal
// here, not be copied (the verifier is internal/aksk's, which the fake SWR
// API shares). For the same reason it must not import hssclient or
// cmd/bridge. Time comes from Options.Now
// (default time.Now), so tests control expiry, skew, throttling windows,
// syncs and scans; every piece of state is guarded by one mutex.
package hsstest
