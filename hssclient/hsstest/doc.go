// Package hsstest is a fake Huawei Cloud HSS batch-scan API, as
// net/http/httptest is to net/http: a real HTTP server on 127.0.0.1
// (NewServer, URL, Close), an http.Handler (Fake), and an in-process
// http.RoundTripper (Fake.Transport) for the bridge's --dry-run simulator
// and for tests under testing/synctest.
//
// It is strict so that a wrong request fails here before it fails at
// Huawei: exact method and path, the enterprise_project_id query limits,
// the region header, a JSON content type, a body decoded with unknown
// fields refused and every field limit, enumeration and rule of the API
// reference checked; AK/SK signatures verified (15 minutes of clock skew)
// or IAM tokens checked against those it issued at POST /v3/auth/tokens
// (with a configurable lifetime, so refresh is testable) or was given.
// It answers with the API's error bodies (400 HSS.0001/HSS.0002, 401
// APIG.0301/APIG.0307, 404 APIG.0101, 429 APIGW.0308), throttles per
// caller like the gateway when asked, records what it accepted (Requests,
// Items) and refused (Refusals), and injects faults (Inject, FailNext,
// RefuseImage): statuses for N calls or a time window, delays, held calls,
// connection resets, refusal of any batch holding a given image.
//
// Its checks and its signature verifier are written from the API
// reference and the signing spec, not by reusing hssclient's Validate or
// signer: a bug there must show up as a refusal here, not be copied. For
// the same reason it must not import hssclient (nor any other package of
// this module). Time comes from Options.Now, so tests control expiry,
// skew and throttling windows.
package hsstest
