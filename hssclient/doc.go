// Package hssclient calls the one Huawei Cloud Host Security Service API the
// bridge needs, POST /v5/{project_id}/image/batch-scan
// (https://support.huaweicloud.com/intl/en-us/api-hss2.0/BatchScanSwrImage.html),
// and says what a failure means for the images of the call.
//
// It holds the request types with every documented field and limit
// (BatchScanRequest, ImageInfo, Target, MaxImages and the other Max*
// constants) and their Validate; the two ways HSS authenticates (AK/SK
// request signing, IAM tokens); the error type of HSS answers (*APIError)
// and the one function that classifies outcomes (Classify). hsstest,
// beside it, is a strict fake HSS for tests and the --dry-run simulator.
//
// It owns no rate limit and no concurrency bound. The HSS quota belongs to
// the user, not to a client, so pacing belongs to the caller that sees
// every call: a caller may plug its limiter in as a Pacer (WithPacer),
// which BatchScan then waits on before each request, or, as the bridge's
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
// dependency: sdk_test.go sends the same BatchScan through the SDK's own
// services/hss/v5 client (v0.1.207) and through Client, and requires equal
// method, path, query, body bytes and Authorization header; requests the
// SDK signed and the SDK's signer test vectors are table cases
// (sign_test.go). The SDK is therefore a test-only dependency.
//
// Credentials come from the environment or files (CredentialsFromEnv,
// ReadSecretFile), never from the SDK provider chain, and secrets are held in
// Secret, which prints "[REDACTED]" everywhere.
//
// # Outcomes
//
// BatchScan returns nil when HSS accepted the request. Otherwise
// Classify(err) says what to do with the images: ClassRetry (429, 408, 5xx,
// timeouts, connection errors, cancelled calls: send again later), ClassAuth
// (401, 403 and the HSS codes that refuse the account: keep the images and
// alert, they are not at fault), ClassPermanent (other 4xx and requests that
// fail Validate: the request is wrong; InvalidItems names items that broke
// a limit).
package hssclient
