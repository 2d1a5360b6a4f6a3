package formats

import "net/http"

// The "swr-enterprise" format is the webhook ("trigger") body of Huawei
// Cloud SWR Enterprise Edition, whose namespaces can notify an HTTP address
// on PUSH_ARTIFACT (CreateInstanceWebhook,
// https://support.huaweicloud.com/intl/en-us/api-swr2/swr_03_0901.html).
//
// The field names here are inferred, not documented: Huawei publishes the
// trigger API but no sample of the body it sends. SWR Enterprise Edition is
// Harbor-derived (PUSH_ARTIFACT is its only event type; scope and tag
// selectors and per-policy "jobs" are Harbor's), so the decoder reads
// Harbor's Default payload with harbor.go's parser, and is built to
// survive a different reality:
//   - event types are matched without case and without "_" (PUSH_ARTIFACT,
//     push_artifact, pushArtifact), and "event_type" is read when "type" is
//     absent;
//   - a missing repository object is replaced by the path in resource_url,
//     a missing tag by the tag in resource_url;
//   - occur_at may be Unix seconds or milliseconds, a number or a string,
//     or RFC 3339; a time it cannot read is left zero;
//   - unknown fields are ignored; a body without any event type is an
//     error, everything else well-formed that is not a tagged push is a Skip.
//
// How to confirm the field names on a real instance: point a trigger at a
// request-capture endpoint and push, or read the delivery history with
// ListInstanceWebhookJobs (GET /v2/{project_id}/instances/{instance_id}/
// namespaces/{namespace_name}/webhook/policies/{policy_id}/jobs); in Harbor
// the job's "job_detail" holds the body that was sent, and SWR's Job model
// has the same field (that it holds the body on SWR is also inferred).
// Add the captured body under testdata/swr-enterprise/ and to the test table.
//
// Push.InstanceURL (HSS instance_url, "the URL the enterprise image is
// downloaded from") is the host of resource_url, as is Push.Host; the HSS
// instance_id is not in the payload and comes from the receiver's
// configuration.
func init() { register("swr-enterprise", decodeSWREnterprise) }

func decodeSWREnterprise(body []byte, _ http.Header) (Result, error) {
	return decodeHarborDefault(body, harborDialect{lenient: true, instanceURL: true})
}
