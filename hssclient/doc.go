// Package hssclient calls the Huawei Cloud Host Security Service image
// APIs the bridge needs to get a pushed image scanned and to learn the
// result, and says what a failure means for the images of a call:
//
//   - BatchScan: POST /v5/{project_id}/image/batch-scan
//     (https://support.huaweicloud.com/intl/en-us/api-hss2.0/BatchScanSwrImage.html);
//   - ListSwrImageRepository: the SWR images HSS knows, with their scan
//     state and findings (presence before a scan, the watch until a result);
//   - RunImageSynchronize: make HSS re-read SWR's image list, because HSS
//     scans only images it knows and a freshly pushed or replicated tag may
//     not be among them yet;
//   - the successors the SDK already carries while HSS's docs mark the
//     three above deprecated: CreateManualImageScanTask, ListImageScanTask,
//     CreateImageSynchronizeTask and ListRegistryImages. Both families map
//     to the same row type (Image), so a lifecycle can run on either.
//
// It holds the request types with every documented field and limit
// (BatchScanRequest, ImageInfo, ListImagesRequest, ScanTaskRequest,
// ListTasksRequest, SyncTaskRequest, ListRegistryImagesRequest, Target,
// MaxImages and the other Max* constants) and their Validate, so a request
// HSS would refuse is refused before it costs a call of the quota; the
// answer types (ImagePage, Image, TaskPage, Task) with IsTerminal for scan
// states; the two ways HSS authenticates (AK/SK request signing, IAM
// tokens); the error types of HSS answers (*APIError for non-2xx,
// *ResultError for a 200 whose body reports a failure, as the image sync
// does) and the one function that classifies outcomes (Classify). Every
// call goes one way: validate, wait for the Pacer, sign, send under
// CallTimeout, retry once after a refused token, decode, tell the Observer
// (Call.API names the operation). hsstest, beside it, is a strict fake HSS
// for tests and the --dry-run simulator.
//
// The list answers are read as HSS sends them, without trusting more than
// the SDK models promise: every field may be absent (zero values), unknown
// fields are ignored, times are Unix milliseconds. Which rows match a
// name filter (exactly or by substring) and in what order is not
// documented, so callers compare namespace, name, tag and digest
// themselves and page by offset up to total_num.
//
// It owns no rate limit and no concurrency bound. The HSS quota belongs to
// the user, not to a client, so pacing belongs to the caller that sees
// every call: a caller may plug its limiter in as a Pacer (WithPacer),
// which every call then waits on before each request, or, as the bridge's
// scanner package does, take its permit and call slot before calling and
// give the client no Pacer at all.
//
// It is a leaf. It must not import any other package of this module (not
// scanjob, queue or handlers) and knows nothing of webhooks, NATS or metrics
// libraries: the queue maps its jobs to BatchScanRequest, and metrics come
// out through the Observer interface.
//
// # Why a signer of its own, and not the SDK's
//
// Requests are signed by Signer, under 200 lines written from the SDK's
// algorithm, rather than by the SDK's core/auth/signer package:
//
//   - weight: core/auth/signer pulls core/request and core/utils, and with
//     them json-iterator, modern-go/reflect2, go.mongodb.org/mongo-driver/bson,
//     tjfoc/gmsm and gopkg.in/ini.v1 into the production binary, for one HMAC;
//   - API: it signs the SDK's request.DefaultHttpRequest, not an
//     *http.Request, and silently leaves out of the signature any query
//     parameter not added as a reflect.Value, an easy way to get a request
//     that HSS refuses;
//   - the SDK has no context.Context anywhere, and its credential types run
//     the default provider chain, which calls the ECS metadata service at
//     169.254.169.254 when a field is missing.
//
// What the SDK does well, the exact bytes, is kept by test instead of by
// dependency: sdk_test.go and sdk_apis_test.go send the same calls of
// every API through the SDK's own services/hss/v5 client (v0.1.207) and
// through Client, and require equal method, path, query, headers, body
// bytes and Authorization header; they also send the SDK's requests to the
// strict fake, which must accept them, and compare what both clients
// decode of its answers. Requests the SDK signed and the SDK's signer test
// vectors are table cases (sign_test.go). The SDK is therefore a test-only
// dependency.
//
// Credentials come from the environment or files (CredentialsFromEnv,
// ReadSecretFile), never from the SDK provider chain, and secrets are held in
// Secret, which prints "[REDACTED]" everywhere.
//
// # Outcomes
//
// A call returns nil when HSS accepted the request. Otherwise
// Classify(err) says what to do with the images: ClassRetry (429, 408, 5xx,
// timeouts, connection errors, cancelled calls, answers that do not
// decode, a *ResultError: send again later), ClassAuth
// (401, 403 and the HSS codes that refuse the account: keep the images and
// alert, they are not at fault), ClassPermanent (other 4xx and requests that
// fail Validate: the request is wrong; InvalidItems names items that broke
// a limit). One 4xx needs more than a class: 400 HSS.0011 ("Requested
// resource not found.") from a scan may mean that HSS does not know one of
// the images yet, which a sync and a presence check answer, not a split of
// the batch; IsNotFound tells it apart. HSS may also answer such a scan
// with a 200 that scans nothing, which only watching the list reveals.
//
// Each HSS API has its own quota (5 calls a minute per user): a caller
// that paces must key its budget by API as well as by user, which a
// Pacer does by implementing APIPacer.
package hssclient
