// Package swrclient calls the Huawei Cloud SWR (SoftWare Repository for
// Container, basic edition) v2 API for what a poll needs: the account's
// repositories with their update times (ListReposDetails, GET
// /v2/manage/repos) and a repository's tags with their digests and update
// times (ListRepositoryTags, GET
// /v2/manage/namespaces/{namespace}/repos/{repository}/tags).
//
// Requests are the official Go SDK's requests for the same inputs
// (services/swr/v2 of github.com/huaweicloud/huaweicloud-sdk-go-v3,
// swr_meta.go and model/; sdk_test.go proves it byte for byte), signed
// with the AK/SK signer of package hssclient. Answers are paged by
// offset and limit, as the SDK models have them; the total comes in the
// Content-Range header ("offset-count/total"). Pages, page counts and
// response bodies are bounded, every call is paced (Config.CallsPerMinute
// says which limit and why), a 429 is waited out and retried a few times,
// and errors say which call failed, never carrying the secret key.
//
// Dependencies: the standard library, golang.org/x/time/rate and
// hssclient (the signer and its Credentials, for that only). It must not
// import queue, scanner, handlers, sources, admin or cmd/bridge: it is a
// client of one API, wired by its callers.
package swrclient
