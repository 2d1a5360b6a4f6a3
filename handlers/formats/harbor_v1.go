package formats

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Harbor 1.x webhooks (Harbor 1.9 and 1.10), whose payload Harbor 2 kept
// as its "Default" format and Tencent TCR Enterprise (a Harbor derivative)
// still sends (tencent_tcr.go).
// https://goharbor.io/docs/1.10/working-with-projects/project-configuration/configure-webhooks/
//
// {"type":"pushImage","occur_at":<unix>,"operator":…,
//  "event_data":{"resources":[{"digest","tag","resource_url"}],
//  "repository":{"name","namespace","repo_full_name","repo_type"}}}
// Each resource is one pushed tag. The 1.x event names (pushImage,
// deleteImage, uploadChart, …) and the 2.x ones (PUSH_ARTIFACT, …) are
// both understood, so a Harbor upgraded in place keeps working. Harbor
// puts the digest in "tag" for a push by digest; that is skipped.
//
// Harbor authenticates a webhook only with the static "Auth Header" value
// configured on the policy (sent as Authorization); it signs nothing.

func init() { register("harbor-v1", decodeHarborV1) }

type legacyHarborPayload struct {
	Type      string            `json:"type"`
	OccurAt   json.RawMessage   `json:"occur_at"`
	Operator  string            `json:"operator"`
	EventData *legacyHarborData `json:"event_data"`
}

// legacyHarborData is event_data of the Default format, and data of the
// CloudEvents format.
type legacyHarborData struct {
	Resources  []legacyHarborResource `json:"resources"`
	Repository *struct {
		Name         string `json:"name"`
		Namespace    string `json:"namespace"`
		RepoFullName string `json:"repo_full_name"`
	} `json:"repository"`
}

type legacyHarborResource struct {
	Digest      string `json:"digest"`
	Tag         string `json:"tag"`
	ResourceURL string `json:"resource_url"`
}

func decodeHarborV1(body []byte, _ http.Header) (Result, error) {
	return decodeLegacyHarbor("harbor-v1", body)
}

// decodeLegacyHarbor decodes the Default-format body for the named format.
func decodeLegacyHarbor(format string, body []byte) (Result, error) {
	var p legacyHarborPayload
	if err := decodeObject(format, body, &p); err != nil {
		return Result{}, err
	}
	if p.Type == "" || p.EventData == nil {
		return Result{}, fmt.Errorf("%s: body has no type and event_data", format)
	}
	var occurAt unixSeconds
	_ = occurAt.UnmarshalJSON(p.OccurAt) // never fails; a bad time is a zero time
	var b resultBuilder
	p.EventData.addTo(&b, legacyHarborKind(p.Type), occurAt.Time, "")
	return b.result(), nil
}

// harborKindSeparators folds PUSH_ARTIFACT, pushImage and artifact.pushed
// to comparable words.
var harborKindSeparators = strings.NewReplacer("_", "", ".", "")

// legacyHarborKind maps the event names of Harbor 1.x, Harbor 2.x (Default
// format) and Harbor CloudEvents to "push", or to the reason to skip.
func legacyHarborKind(eventType string) string {
	t := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(eventType), "harbor."))
	t = harborKindSeparators.Replace(t)
	switch t {
	case "pushimage", "pushartifact", "artifactpushed":
		return "push"
	case "deleteimage", "deleteartifact", "artifactdeleted":
		return "delete event, not a push"
	case "pullimage", "pullartifact", "artifactpulled":
		return "pull event, not a push"
	case "uploadchart", "downloadchart", "deletechart", "chartuploaded", "chartdownloaded", "chartdeleted":
		return "helm chart, not a container image"
	case "scanningcompleted", "scanningfailed", "scanningstopped", "scancompleted", "scanfailed", "scanstopped":
		return "scan event, not a push"
	}
	return fmt.Sprintf("harbor %s event, not a push", clip(strings.TrimPrefix(strings.TrimSpace(eventType), "harbor."), 64))
}

// addTo adds one push or skip per resource.
func (d *legacyHarborData) addTo(b *resultBuilder, kind string, at time.Time, eventID string) {
	repo := ""
	if r := d.Repository; r != nil {
		repo = strings.Trim(r.RepoFullName, "/")
		if repo == "" && r.Namespace != "" && r.Name != "" {
			repo = strings.Trim(r.Namespace, "/") + "/" + strings.Trim(r.Name, "/")
		}
	}
	if len(d.Resources) == 0 {
		if kind == "push" {
			kind = "push event without resources"
		}
		b.skip(repo, kind)
		return
	}
	for _, res := range d.Resources {
		ref, ok := parseRef(res.ResourceURL)
		r := repo
		if r == "" && ok {
			r = ref.Repository
		}
		if kind != "push" {
			b.skip(refString(r, res.Tag, res.Digest), kind)
			continue
		}
		host := ""
		if ok {
			host = strings.ToLower(ref.Host)
		}
		b.add(candidate{Push: Push{
			Host: host, Repository: r, Tag: res.Tag, Digest: res.Digest, PushedAt: at, EventID: eventID,
		}})
	}
}
