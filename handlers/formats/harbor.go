package formats

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// The "harbor" format is Harbor's "Default" webhook payload (not its
// CloudEvents one, harbor_cloudevents.go):
//
//	{"type": "PUSH_ARTIFACT", "occur_at": 1586922308, "operator": "admin",
//	 "event_data": {
//	   "resources": [{"digest": "sha256:…", "tag": "latest",
//	                  "resource_url": "hub.harbor.com/test-webhook/debian:latest"}],
//	   "repository": {"name": "debian", "namespace": "test-webhook",
//	                  "repo_full_name": "test-webhook/debian", "repo_type": "private"}}}
//
// Sources: https://goharbor.io/docs/latest/working-with-projects/project-configuration/configure-webhooks/
// (and https://goharbor.io/docs/1.10/working-with-projects/project-configuration/configure-webhooks/
// for Harbor 1.x), and Harbor's src/pkg/notifier/model/event.go (Payload,
// EventData, Resource, Repository) and
// src/controller/event/handler/webhook/artifact/artifact.go
// (constructArtifactPayload) in https://github.com/goharbor/harbor.
//
// The same wire format has three names, registered as aliases of this one
// decoder: "harbor"; "harbor-v1", for Harbor 1.9 and 1.10, whose payload
// Harbor 2 kept as its Default format; and "tencent-tcr" (tencent_tcr.go),
// Tencent TCR Enterprise, a Harbor derivative that sends it unchanged. Each
// name still names itself in errors. SWR Enterprise (swr_enterprise.go)
// and the CloudEvents payload (harbor_cloudevents.go) share the parser.
//
// What the source shows and this decoder relies on:
//   - One resource per artifact event, holding the first tag of the artifact.
//     An artifact without a tag (pushed by digest, a child manifest of a
//     multi-arch index, a replication by digest) gets its digest in "tag"
//     and "repo@sha256:…" (Harbor 2.0: "repo:sha256:…") in resource_url:
//     such a resource is skipped as a push by digest, like an empty tag.
//   - resource_url starts with Harbor's external host (with port if any):
//     that is Push.Host.
//   - The Default payload carries no artifact type or media type, so a Helm
//     chart pushed as an OCI artifact cannot be told from an image here.
//     When a resource does carry one (type, artifact_type, media_type,
//     manifest_media_type, as Harbor's artifact API names them) or
//     repo_type names a chart or CNAB, the resource is skipped. The
//     repository name is never used for this: "alpine/helm" is an image.
//   - Harbor 1.x sent the same shape with camel-case types (pushImage,
//     pullImage, uploadChart, …) and Harbor's CloudEvents use dotted ones
//     (harbor.artifact.pushed, …); all are understood, so a Harbor upgraded
//     in place keeps working.
//
// Pushes: PUSH_ARTIFACT (and pushImage). Skipped with a reason:
// PULL_ARTIFACT, DELETE_ARTIFACT, SCANNING_COMPLETED/FAILED/STOPPED,
// QUOTA_EXCEED/QUOTA_WARNING, REPLICATION, TAG_RETENTION, the chart events,
// and any other type. Harbor's Default payload has no event id.
//
// Harbor authenticates a webhook only with the static "Auth Header" value
// configured on the policy (sent as Authorization); it signs nothing.
func init() {
	register("harbor", decodeHarbor)
	register("harbor-v1", decodeHarbor)
}

func decodeHarbor(body []byte, _ http.Header) (Result, error) {
	return decodeHarborDefault(body, harborDialect{})
}

// harborDialect is what differs between Harbor and the Harbor-derived
// senders decoded by the same code.
type harborDialect struct {
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
	OccurAt     eventTime        `json:"occur_at"`
	EventData   *harborEventData `json:"event_data"`
	SpecVersion string           `json:"specversion"`
}

// harborEventData is event_data of the Default payload and data of the
// CloudEvents payload.
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

// The fast path's readers of the Default payload (fastpath.go): the same
// fields as the json tags above, in the same order.

var (
	harborPayloadKeys    = []string{"type", "event_type", "occur_at", "event_data", "specversion"}
	harborEventDataKeys  = []string{"resources", "repository"}
	harborResourceKeys   = []string{"digest", "tag", "resource_url", "type", "artifact_type", "media_type", "manifest_media_type"}
	harborRepositoryKeys = []string{"name", "namespace", "repo_full_name", "repo_type"}
)

func (p *harborPayload) readFast(obj gjson.Result) bool {
	var q harborPayload
	ok := readMembers(obj, harborPayloadKeys, func(i int, v gjson.Result) bool {
		switch i {
		case 0:
			return readString(v, &q.Type)
		case 1:
			return readString(v, &q.EventType)
		case 2:
			return readEventTime(v, &q.OccurAt)
		case 3:
			if v.Type == gjson.Null {
				return true
			}
			q.EventData = new(harborEventData)
			return q.EventData.readFast(v)
		default:
			return readString(v, &q.SpecVersion)
		}
	})
	if ok {
		*p = q
	}
	return ok
}

func (d *harborEventData) readFast(obj gjson.Result) bool {
	var q harborEventData
	ok := readMembers(obj, harborEventDataKeys, func(i int, v gjson.Result) bool {
		if i == 0 {
			if v.IsArray() {
				q.Resources = make([]harborResource, 0, 1)
			}
			return readArray(v, func(v gjson.Result) bool {
				var r harborResource
				ok := r.readFast(v)
				q.Resources = append(q.Resources, r)
				return ok
			})
		}
		if v.Type == gjson.Null {
			return true
		}
		q.Repository = new(harborRepository)
		return q.Repository.readFast(v)
	})
	if ok {
		*d = q
	}
	return ok
}

func (r *harborResource) readFast(obj gjson.Result) bool {
	var q harborResource
	fields := [...]*string{&q.Digest, &q.Tag, &q.ResourceURL, &q.Type, &q.ArtifactType, &q.MediaType, &q.ManifestMediaType}
	ok := readMembers(obj, harborResourceKeys, func(i int, v gjson.Result) bool { return readString(v, fields[i]) })
	if ok {
		*r = q
	}
	return ok
}

func (r *harborRepository) readFast(obj gjson.Result) bool {
	var q harborRepository
	fields := [...]*string{&q.Name, &q.Namespace, &q.RepoFullName, &q.RepoType}
	ok := readMembers(obj, harborRepositoryKeys, func(i int, v gjson.Result) bool { return readString(v, fields[i]) })
	if ok {
		*r = q
	}
	return ok
}

// Reasons for the Harbor event types that are not pushes (pull, delete and
// chart events use the shared reasons of decode.go).
const (
	reasonHarborScan        = "scan event, not a push"
	reasonHarborQuota       = "quota event, not a push"
	reasonHarborReplication = "replication event, not a push"
	reasonHarborRetention   = "tag retention event, not a push"
	reasonHarborNoResources = "push event without resources"
)

// errHarborCloudEvents marks Harbor's other payload format.
var errHarborCloudEvents = errors.New(`this is Harbor's CloudEvents payload: use format "harbor-cloudevents" for it, or set the webhook's payload format to Default`)

// errNoEventType marks an object without a "type": not a Harbor payload.
var errNoEventType = errors.New(`no event "type"`)

// decodeHarborDefault decodes the Default payload in a dialect.
func decodeHarborDefault(body []byte, d harborDialect) (Result, error) {
	var p harborPayload
	if err := decodeObject(body, &p); err != nil {
		return Result{}, err
	}
	return harborDefaultResult(&p, d)
}

// harborDefaultResult is what a decoded Default payload holds.
func harborDefaultResult(p *harborPayload, d harborDialect) (Result, error) {
	if p.SpecVersion != "" {
		return Result{}, errHarborCloudEvents
	}
	eventType := p.Type
	if eventType == "" && d.lenient {
		eventType = p.EventType
	}
	if eventType == "" {
		return Result{}, errNoEventType
	}
	var b resultBuilder
	addHarborEvent(&b, eventType, p.EventData, p.OccurAt.Time, "", d)
	return b.result(), nil
}

// addHarborEvent adds one Harbor event, of the Default payload (type and
// event_data) or of the CloudEvents payload (type and data): a push or a
// skip per resource, or one skip for an event that names none.
func addHarborEvent(b *resultBuilder, eventType string, data *harborEventData, at time.Time, eventID string, d harborDialect) {
	var ed harborEventData
	if data != nil {
		ed = *data
	}
	repoName := harborRepositoryName(ed.Repository)
	reason, isPush := harborEventReason(eventType)
	switch {
	case !isPush:
		harborSkipAll(b, ed.Resources, repoName, reason)
	case len(ed.Resources) == 0:
		b.skip(repoName, reasonHarborNoResources)
	default:
		for i := range ed.Resources {
			addHarborResource(b, &ed.Resources[i], ed.Repository, repoName, at, eventID, d)
		}
	}
}

// harborEventReason maps an event type to the reason it is skipped, or
// reports that it is a push. Types are compared without case, without a
// "harbor." prefix and without "_", "-", "." and spaces, so PUSH_ARTIFACT,
// push_artifact, Harbor 1.x's pushImage and the CloudEvents type
// harbor.artifact.pushed agree. The CloudEvents types are the documented
// mapping (harbor.quota.exceeded, harbor.scan.completed,
// harbor.replication.status.changed, harbor.tag_retention.finished, …).
func harborEventReason(eventType string) (reason string, push bool) {
	switch normalizeEventType(strings.TrimPrefix(strings.TrimSpace(eventType), "harbor.")) {
	case "pushartifact", "pushimage", "artifactpushed":
		return "", true
	case "pullartifact", "pullimage", "artifactpulled":
		return reasonPull, false
	case "deleteartifact", "deleteimage", "artifactdeleted":
		return reasonDelete, false
	case "uploadchart", "downloadchart", "deletechart", "chartuploaded", "chartdownloaded", "chartdeleted":
		return reasonHelmChart, false
	case "scanningcompleted", "scanningfailed", "scanningstopped", "scancompleted", "scanfailed", "scanstopped":
		return reasonHarborScan, false
	case "quotaexceed", "quotawarning", "quotaexceeded", "quotawarned", "projectquota":
		return reasonHarborQuota, false
	case "replication", "replicationstatuschanged":
		return reasonHarborReplication, false
	case "tagretention", "tagretentionfinished":
		return reasonHarborRetention, false
	}
	return fmt.Sprintf("unsupported event type %q", Clip(eventType, 64)), false
}

// normalizeEventType lower-cases and drops "_", "-", "." and spaces. A
// name up to 32 bytes, every known one, is built on the stack, so the
// switch on it allocates nothing.
func normalizeEventType(s string) string {
	var buf [32]byte
	b := buf[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ':
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// harborRepositoryName is the full repository path: repo_full_name, else
// namespace/name.
func harborRepositoryName(r *harborRepository) string {
	if r == nil {
		return ""
	}
	return repoPath(r.RepoFullName, r.Namespace, r.Name)
}

// harborSkipAll skips every resource of a non-push event with one reason,
// or the event as a whole when it names none.
func harborSkipAll(b *resultBuilder, resources []harborResource, repoName, reason string) {
	if len(resources) == 0 {
		b.skip(repoName, reason)
		return
	}
	for i := range resources {
		r := &resources[i]
		repo := repoName
		if repo == "" {
			ref, _ := parseRef(r.ResourceURL)
			repo = ref.Repository
		}
		tag := r.Tag
		if looksLikeDigest(tag) {
			tag = ""
		}
		b.skip(refString(repo, tag, r.Digest), reason)
	}
}

// addHarborResource adds one resource of a push event as a push, or as a
// skip with the reason it is not a tagged image push.
func addHarborResource(b *resultBuilder, r *harborResource, repo *harborRepository, repoName string, at time.Time, eventID string, d harborDialect) {
	loc, _ := parseRef(r.ResourceURL)
	if repoName == "" {
		repoName = loc.Repository
	}
	tag := r.Tag
	if tag == "" && d.lenient {
		tag = loc.Tag
	}
	digest := cmp.Or(r.Digest, loc.Digest)
	if looksLikeDigest(tag) {
		// Harbor writes the digest into "tag" for an untagged artifact.
		digest = cmp.Or(digest, tag)
		tag = ""
	}
	ref := func() string { return refString(repoName, tag, digest) }
	if repoName == "" {
		b.skip(r.ResourceURL, reasonNoRepository)
		return
	}
	if reason := harborArtifactReason(r, repo); reason != "" {
		b.skip(ref(), reason)
		return
	}
	if tag == "" {
		b.skip(ref(), reasonByDigest)
		return
	}
	if reason := tagSkipReason(tag); reason != "" {
		b.skip(ref(), reason)
		return
	}
	if reason := refProblem(repoName, tag); reason != "" {
		b.skip(ref(), reason)
		return
	}
	mediaType := r.ManifestMediaType
	if mediaType == "" && isManifestMediaType(normalizeMediaType(r.MediaType)) {
		mediaType = r.MediaType
	}
	p := Push{
		Host:       loc.Host,
		Repository: repoName,
		Tag:        tag,
		Digest:     digest,
		MediaType:  mediaType,
		PushedAt:   at,
		EventID:    eventID,
	}
	if d.instanceURL {
		p.InstanceURL = loc.Host
	}
	b.add(candidate{Push: p})
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
			return reasonHelmChart
		case lt == "cnab":
			return notAnImage("cnab bundle")
		case strings.Contains(lt, "/"):
			if reason := artifactTypeReason(lt); reason != "" {
				return reason
			}
		default:
			return notAnImage(fmt.Sprintf("artifact type %q", Clip(t, 64)))
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
			return reasonHelmChart
		case strings.Contains(t, "cnab"):
			return notAnImage("cnab bundle")
		}
	}
	return ""
}
