// Package swrtest is a fake Huawei Cloud SWR v2 API (the two calls
// swrclient makes: ListReposDetails and ListRepositoryTags), as
// net/http/httptest is to net/http: a real HTTP server on 127.0.0.1
// (NewServer, URL, Close), an http.Handler (Fake), and an in-process
// http.RoundTripper (Fake.Transport) for a dry run.
//
// It is strict, so that a wrong request fails here before it fails at
// Huawei, and it accepts exactly what the official SDK sends
// (swrclient's sdk_test.go sends the SDK's own requests here): the exact
// method and path; only the query parameters of the SDK's request model,
// each at most once and within its documented range (limit 1-1000,
// offset >= 0, order_column updated_at, order_type asc or desc, paired
// as the models say); a JSON Content-Type; no body; an AK/SK signature
// verified from the signing spec (15 minutes of clock skew), with the
// security token of temporary credentials. It pages by offset and limit
// and sets Content-Range ("offset-count/total") as the API documents,
// answers SWR's error bodies ([{"errorCode","errorMessage","detail"}]),
// and throttles: with Options.CallsPerMinute each API is limited per
// access key in a sliding minute and answered 429 with the API
// gateway's body, and Throttle(n) refuses the next n calls so.
//
// Its verifier is internal/aksk's, the one hssclient/hsstest uses,
// written from the signing spec independently of hssclient's signer, so a
// signer bug shows up as a refusal here. It must not import hssclient,
// swrclient or cmd/bridge.
package swrtest
