package formats

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// JFrog Artifactory webhooks, "docker" domain.
// https://jfrog.com/help/r/jfrog-platform-administration-documentation/domain-docker
//
// The body is {"domain":"docker","event_type":"pushed","data":{repo_key,
// image_name, tag, sha256, path, …},"jpd_origin":…}. Only "pushed" is a
// push; "deleted" and "promoted" are skipped, and so is every other
// domain (artifact, build, release bundle …) that a webhook may be
// subscribed to.
//
// Repository naming: Push.Repository is "<repo_key>/<image_name>", the
// path an image is pulled by with Artifactory's repository-path access
// method (host/<repo_key>/<image>:<tag>), so the SWR namespace becomes the
// Artifactory repository key. data.sha256 is the digest of the manifest
// file named by data.path (list.manifest.json for a multi-arch index).
//
// A predefined webhook can be given a secret token, which Artifactory
// sends as-is in the X-JFrog-Event-Auth header, plus custom headers
// (https://jfrog.com/help/r/jfrog-platform-administration-documentation/webhooks);
// custom webhooks can send any header.

func init() { register("artifactory", decodeArtifactory) }

type artifactoryPayload struct {
	Domain    string `json:"domain"`
	EventType string `json:"event_type"`
	JPDOrigin string `json:"jpd_origin"`
	Data      *struct {
		RepoKey   string `json:"repo_key"`
		EventType string `json:"event_type"`
		Path      string `json:"path"`
		Name      string `json:"name"`
		SHA256    string `json:"sha256"`
		ImageName string `json:"image_name"`
		Tag       string `json:"tag"`
	} `json:"data"`
}

func decodeArtifactory(body []byte, _ http.Header) (Result, error) {
	var p artifactoryPayload
	if err := decodeObject(body, &p); err != nil {
		return Result{}, err
	}
	if p.Data == nil || (p.Domain == "" && p.EventType == "" && p.Data.EventType == "") {
		return Result{}, errors.New("body has no domain, event_type and data")
	}
	d := p.Data
	repo := strings.Trim(d.ImageName, "/")
	if d.RepoKey != "" && repo != "" {
		repo = strings.Trim(d.RepoKey, "/") + "/" + repo
	}
	digest := withDigestAlgorithm(d.SHA256)
	var b resultBuilder
	ref := refString(repo, d.Tag, digest)
	if p.Domain != "" && !strings.EqualFold(p.Domain, "docker") {
		b.skip(ref, fmt.Sprintf("artifactory %s event, not a docker push", Clip(p.Domain, 32)))
		return b.result(), nil
	}
	switch event := cmp.Or(p.EventType, d.EventType); {
	case strings.EqualFold(event, "pushed"):
	case strings.EqualFold(event, "deleted"):
		b.skip(ref, reasonDelete)
		return b.result(), nil
	default:
		b.skip(ref, fmt.Sprintf("docker %s event, not a push", Clip(event, 32)))
		return b.result(), nil
	}
	b.add(candidate{Push: Push{Host: urlHost(p.JPDOrigin), Repository: repo, Tag: d.Tag, Digest: digest}})
	return b.result(), nil
}
