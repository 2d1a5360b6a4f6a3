package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Amazon ECR image events from EventBridge, delivered to the bridge by an
// EventBridge API destination (which posts the event unchanged unless an
// input transformer is configured) or by any relay that forwards the event
// JSON (one event, or an array of events).
// https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html
//
// "ECR Image Action" with detail.action-type PUSH and result SUCCESS is a
// push of detail.image-tag; a push without image-tag is a push by digest.
// DELETE, failed actions and the other ECR detail types (scans, pull
// through cache, replication, referrers) are skipped. ECR emits events "on
// a best effort basis".
//
// The host is not in the event; it is derived from account and region as
// <account>.dkr.ecr.<region>.amazonaws.com(.cn), which is where the image
// is pulled from.
//
// API destinations authenticate with a connection: an API key header,
// Basic auth, or OAuth client credentials; they do not sign the body.

func init() { register("ecr", decodeECR) }

type ecrEvent struct {
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Detail     *ecrData `json:"detail"`
}

type ecrData struct {
	Result            string `json:"result"`
	RepositoryName    string `json:"repository-name"`
	ImageDigest       string `json:"image-digest"`
	ActionType        string `json:"action-type"`
	ImageTag          string `json:"image-tag"`
	ManifestMediaType string `json:"manifest-media-type"`
	ArtifactMediaType string `json:"artifact-media-type"`
}

func decodeECR(body []byte, _ http.Header) (Result, error) {
	trimmed := bytes.TrimSpace(body)
	var events []ecrEvent
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &events); err != nil {
			return Result{}, fmt.Errorf("decode events: %w", err)
		}
		if len(events) == 0 {
			return Result{}, errors.New("empty event array")
		}
	default:
		var ev ecrEvent
		if err := decodeObject(body, &ev); err != nil {
			return Result{}, err
		}
		events = []ecrEvent{ev}
	}
	var b resultBuilder
	for i := range events {
		if err := events[i].addTo(&b); err != nil {
			return Result{}, fmt.Errorf("event %d: %w", i, err)
		}
	}
	return b.result(), nil
}

func (ev *ecrEvent) addTo(b *resultBuilder) error {
	if ev.DetailType == "" || ev.Detail == nil {
		return errors.New("not an EventBridge event (no detail-type and detail)")
	}
	d := ev.Detail
	ref := refString(d.RepositoryName, d.ImageTag, d.ImageDigest)
	if ev.Source != "" && ev.Source != "aws.ecr" {
		b.skip(ref, fmt.Sprintf("event from %s, not ECR", Clip(ev.Source, 64)))
		return nil
	}
	if ev.DetailType != "ECR Image Action" {
		b.skip(ref, fmt.Sprintf("ecr %q event, not an image push", Clip(ev.DetailType, 64)))
		return nil
	}
	switch {
	case strings.EqualFold(d.ActionType, "DELETE"):
		b.skip(ref, reasonDelete)
		return nil
	case !strings.EqualFold(d.ActionType, "PUSH"):
		b.skip(ref, fmt.Sprintf("ecr %s action, not a push", Clip(strings.ToLower(d.ActionType), 32)))
		return nil
	case !strings.EqualFold(d.Result, "SUCCESS"):
		b.skip(ref, "failed push")
		return nil
	}
	b.add(candidate{
		Push: Push{
			Host: ecrHost(ev.Account, ev.Region), Repository: d.RepositoryName, Tag: d.ImageTag,
			Digest: d.ImageDigest, MediaType: d.ManifestMediaType,
			PushedAt: parseTime(ev.Time), EventID: ev.ID,
		},
		// artifact-media-type is the config media type of the manifest
		// (application/vnd.docker.container.image.v1+json for an image).
		ConfigMediaType: d.ArtifactMediaType,
	})
	return nil
}

// ecrHost is the private registry host of an account and region, or ""
// when either is missing or not of the expected form.
func ecrHost(account, region string) string {
	if len(account) != 12 || strings.Trim(account, "0123456789") != "" || region == "" ||
		strings.Trim(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return ""
	}
	host := account + ".dkr.ecr." + region + ".amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		host += ".cn"
	}
	return host
}
