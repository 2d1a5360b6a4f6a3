package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The "harbor" format is Harbor's "Default" webhook payload (not its
// CloudEvents one):
//
//	{"type": "PUSH_ARTIFACT", "occur_at": 1586922308, "operator": "admin",
//	 "event_data": {
//	   "resources": [{"digest": "sha256:…", "tag": "latest",
//	                  "resource_url": "hub.harbor.com/test-webhook/debian:latest"}],
//	   "repository": {"name": "debian", "namespace": "test-webhook",
//	                  "repo_full_name": "test-webhook/debian", "repo_type": "private"}}}
//
// Sources: https://goharbor.io/docs/latest/working-with-projects/project-configuration/configure-webhooks/
// and Harbor's src/pkg/notifier/model/event.go (Payload, EventData, Resource,
// Repository) and src/controller/event/handler/webhook/artifact/artifact.go
// (constructArtifactPayload) in https://github.com/goharbor/harbor.
//
// What the source shows and this decoder relies on:
//   - One resource per artifact event, holding the first tag of the artifact.
//     An artifact without a tag (pushed by digest, a child manifest of a
//     multi-arch index, a replication by digest) gets its digest in "tag"
//     and "repo@sha256:…" in resource_url: such a resource is skipped as a
//     push by digest, like an empty tag.
//   - resource_url starts with Harbor's external host (with port if any):
//     that is Push.Host.
//   - The Default payload carries no artifact type or media type, so a Helm
//     chart pushed as an OCI artifact cannot be told from an image here.
//     When a resource does carry one (type, artifact_type, media_type,
//     manifest_media_type, as Harbor's artifact API names them) or
//     repo_type names a chart or CNAB, the resource is skipped. The
//     repository name is never used for this: "alpine/helm" is an image.
//   - Harbor 1.x sent the same shape with camel-case types (pushImage,
//     pullImage, uploadChart, …); they are accepted too.
//
// Pushes: PUSH_ARTIFACT (and pushImage). Skipped with a reason:
// PULL_ARTIFACT, DELETE_ARTIFACT, SCANNING_COMPLETED/FAILED/STOPPED,
// QUOTA_EXCEED/QUOTA_WARNING, REPLICATION, TAG_RETENTION, the chart events,
// and any other type. Harbor's Default payload has no event id.
func init() { register("harbor", decodeHarbor) }

func decodeHarbor(body []byte, _ http.Header) (Result, error) {
	return decodeHarborLike(body, harborDialect{format: "harbor"})
}

// harborDialect is what differs between Harbor and the Harbor-derived
// senders decoded by the same code.
type harborDialect struct {
	// format names the format in errors.
	format string
	// lenient accepts "event_type" for "type" and takes a missing tag from
	// resource_url, for senders whose field names are inferred, not known.
	lenient bool
	// instanceURL copies the resource_url host to Push.InstanceURL.
	instanceURL bool
}

// harborPayload is the Default payload. Fields are the ones Harbor writes;
// the decoder ignores the others (operator, scan_overview, replication,
// retention, custom_attributes).
type harborPayload struct {
	Type        string           `json:"type"`
	EventType   string           `json:"event_type"`
	OccurAt     lenientTime      `json:"occur_at"`
	EventData   *harborEventData `json:"event_data"`
	SpecVersion string           `json:"specversion"`
}

type harborEventData struct {
	Resources  []harborResource  `json:"resources"`
	Repository *harborRepository `json:"repository"`
}

type harborResource struct {
	Digest      string `json:"digest"`
	Tag         string `json:"tag"`
	ResourceURL string `json:"resource_url"`
	// Not in Harbor's Default payload; read when a sender adds them.
	Type              string `json:"type"`
	ArtifactType      string `json:"artifact_type"`
	MediaType         string `json:"media_type"`
	ManifestMediaType string `json:"manifest_media_type"`
}

type harborRepository struct {
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	RepoFullName string `json:"repo_full_name"`
	RepoType     string `json:"repo_type"`
}

// Reasons for the Harbor event types that are not pushes.
const (
	reasonHarborPull        = "pull event"
	reasonHarborDelete      = "delete event"
	reasonHarborScan        = "scan event"
	reasonHarborQuota       = "quota event"
	reasonHarborReplication = "replication event"
	reasonHarborRetention   = "tag retention event"
	reasonHarborNoResources = "push event without resources"
)

// errHarborCloudEvents marks Harbor's other payload format.
var errHarborCloudEvents = errors.New(`this is Harbor's CloudEvents payload: use format "harbor-cloudevents" for it, or set the webhook's payload format to Default`)

// errNoEventType marks an object without a "type": not a Harbor payload.
var errNoEventType = errors.New(`no event "type"`)

func decodeHarborLike(body []byte, d harborDialect) (Result, error) {
	if err := requireJSONObject(body); err != nil {
		return Result{}, fmt.Errorf("%s payload: %w", d.format, err)
	}
	var p harborPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return Result{}, fmt.Errorf("decode %s payload: %w", d.format, err)
	}
	if p.SpecVersion != "" {
		return Result{}, fmt.Errorf("%s payload: %w", d.format, errHarborCloudEvents)
	}
	eventType := p.Type
	if eventType == "" && d.lenient {
		eventType = p.EventType
	}
	if eventType == "" {
		return Result{}, fmt.Errorf("%s payload: %w", d.format, errNoEventType)
	}

	var data harborEventData
	if p.EventData != nil {
		data = *p.EventData
	}
	repoName := harborRepositoryName(data.Repository)

	reason, isPush := harborEventReason(eventType)
	if !isPush {
		return Result{Skipped: harborSkipAll(data.Resources, repoName, reason)}, nil
	}
	if len(data.Resources) == 0 {
		return Result{Skipped: []Skip{{Ref: repoName, Reason: reasonHarborNoResources}}}, nil
	}
	var res Result
	for i := range data.Resources {
		push, skip := harborResourcePush(&data.Resources[i], data.Repository, repoName, p.OccurAt, d)
		if skip.Reason != "" {
			res.Skipped = append(res.Skipped, skip)
			continue
		}
		res.Pushes = append(res.Pushes, push)
	}
	return res, nil
}

// harborEventReason maps an event type to the reason it is skipped, or
// reports that it is a push. Types are compared without case and without
// "_", so PUSH_ARTIFACT, push_artifact and Harbor 1.x's pushImage agree.
func harborEventReason(eventType string) (reason string, push bool) {
	switch normalizeEventType(eventType) {
	case "pushartifact", "pushimage":
		return "", true
	case "pullartifact", "pullimage":
		return reasonHarborPull, false
	case "deleteartifact", "deleteimage":
		return reasonHarborDelete, false
	case "uploadchart", "downloadchart", "deletechart":
		return notAnImage("helm chart"), false
	case "scanningcompleted", "scanningfailed", "scanningstopped":
		return reasonHarborScan, false
	case "quotaexceed", "quotawarning":
		return reasonHarborQuota, false
	case "replication":
		return reasonHarborReplication, false
	case "tagretention":
		return reasonHarborRetention, false
	}
	return fmt.Sprintf("unsupported event type %q", clip(eventType, 64)), false
}

// normalizeEventType lower-cases and drops "_", "-", "." and spaces.
func normalizeEventType(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ':
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// harborRepositoryName is the full repository path: repo_full_name, else
// namespace/name.
func harborRepositoryName(r *harborRepository) string {
	switch {
	case r == nil:
		return ""
	case r.RepoFullName != "":
		return strings.Trim(r.RepoFullName, "/")
	case r.Namespace != "" && r.Name != "":
		return strings.Trim(r.Namespace, "/") + "/" + strings.Trim(r.Name, "/")
	}
	return ""
}

// harborSkipAll skips every resource of a non-push event with one reason,
// or the event as a whole when it names none.
func harborSkipAll(resources []harborResource, repoName, reason string) []Skip {
	if len(resources) == 0 {
		return []Skip{{Ref: repoName, Reason: reason}}
	}
	skips := make([]Skip, 0, len(resources))
	for i := range resources {
		r := &resources[i]
		repo := repoName
		_, urlRepo, _, _ := splitImageRef(r.ResourceURL)
		if repo == "" {
			repo = urlRepo
		}
		tag := r.Tag
		if looksLikeDigest(tag) {
			tag = ""
		}
		skips = append(skips, Skip{Ref: clip(refString(repo, tag, r.Digest), 300), Reason: reason})
	}
	return skips
}

// harborResourcePush turns one resource of a push event into a Push, or a
// Skip with the reason it is not a tagged image push.
func harborResourcePush(r *harborResource, repo *harborRepository, repoName string, at lenientTime, d harborDialect) (Push, Skip) {
	host, urlRepo, urlTag, urlDigest := splitImageRef(r.ResourceURL)
	if repoName == "" {
		repoName = urlRepo
	}
	tag := r.Tag
	if tag == "" && d.lenient {
		tag = urlTag
	}
	digest := r.Digest
	if digest == "" {
		digest = urlDigest
	}
	if looksLikeDigest(tag) {
		// Harbor writes the digest into "tag" for an untagged artifact.
		if digest == "" {
			digest = tag
		}
		tag = ""
	}
	ref := clip(refString(repoName, tag, digest), 300)
	if repoName == "" {
		return Push{}, Skip{Ref: clip(r.ResourceURL, 300), Reason: reasonNoRepository}
	}
	if reason := harborArtifactReason(r, repo); reason != "" {
		return Push{}, Skip{Ref: ref, Reason: reason}
	}
	if tag == "" {
		return Push{}, Skip{Ref: ref, Reason: reasonByDigest}
	}
	if reason := tagSkipReason(tag); reason != "" {
		return Push{}, Skip{Ref: ref, Reason: reason}
	}
	if reason := refProblem(repoName, tag); reason != "" {
		return Push{}, Skip{Ref: ref, Reason: reason}
	}
	mediaType := r.ManifestMediaType
	if mediaType == "" && isManifestMediaType(normalizeMediaType(r.MediaType)) {
		mediaType = r.MediaType
	}
	p := Push{
		Host:       host,
		Repository: repoName,
		Tag:        tag,
		Digest:     digest,
		MediaType:  mediaType,
		PushedAt:   at.Time,
	}
	if d.instanceURL {
		p.InstanceURL = host
	}
	return p, Skip{}
}

// harborArtifactReason says why a resource is not a container image when
// the resource or the repository says what it is, or returns "". Harbor's
// artifact types are IMAGE, CHART, CNAB and user-defined ones; only IMAGE
// is scannable.
func harborArtifactReason(r *harborResource, repo *harborRepository) string {
	for _, t := range [...]string{r.ArtifactType, r.Type} {
		switch lt := strings.ToLower(strings.TrimSpace(t)); {
		case lt == "" || lt == "image":
		case lt == "chart" || strings.Contains(lt, "helm"):
			return notAnImage("helm chart")
		case lt == "cnab":
			return notAnImage("cnab bundle")
		case strings.Contains(lt, "/"):
			if reason := artifactTypeReason(lt); reason != "" {
				return reason
			}
		default:
			return notAnImage(fmt.Sprintf("artifact type %q", clip(t, 64)))
		}
	}
	if mt := normalizeMediaType(r.ManifestMediaType); mt != "" && !isManifestMediaType(mt) {
		return describeArtifact(mt)
	}
	// media_type is a config type in Harbor's artifact API.
	if reason := artifactTypeReason(r.MediaType); reason != "" && !isManifestMediaType(normalizeMediaType(r.MediaType)) {
		return reason
	}
	if repo != nil {
		switch t := strings.ToLower(repo.RepoType); {
		case strings.Contains(t, "chart"), strings.Contains(t, "helm"):
			return notAnImage("helm chart")
		case strings.Contains(t, "cnab"):
			return notAnImage("cnab bundle")
		}
	}
	return ""
}
