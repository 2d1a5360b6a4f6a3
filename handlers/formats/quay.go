package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
)

// Quay (quay.io and Red Hat Quay) repository notifications with the
// "Webhook POST" method.
// https://docs.redhat.com/en/documentation/red_hat_quay/3.12/html/use_red_hat_quay/repository-events
// https://github.com/quay/quay/blob/master/notifications/notificationevent.py
//
// Every Quay event posts the same kind of body (repository, namespace,
// name, docker_url, homepage) plus event fields, and the body does not name
// the event. A repository push ("repo_push") is the one with updated_tags;
// build, vulnerability and mirror notifications are recognised by their
// own fields and skipped. updated_tags is a list of tag names in current
// Quay and in the Red Hat docs, and a tag → image-id map in older payloads
// (https://gist.github.com/jakedt/7533338); the map values are legacy V1
// image ids, not manifest digests, so they are not used as digests.
//
// Quay does not sign the body and sends no custom headers. To an https URL
// it presents its own TLS client certificate ("verification of this
// certificate will prove the call originated from Quay"), which a TLS
// terminator can check; otherwise the URL is the only secret.
// https://docs.redhat.com/en/documentation/red_hat_quay/3.6/html/use_red_hat_quay/webhook-post

func init() { register("quay", decodeQuay) }

type quayPayload struct {
	Repository    string          `json:"repository"`
	Namespace     string          `json:"namespace"`
	Name          string          `json:"name"`
	DockerURL     string          `json:"docker_url"`
	Homepage      string          `json:"homepage"`
	UpdatedTags   json.RawMessage `json:"updated_tags"`
	BuildID       string          `json:"build_id"`
	Vulnerability json.RawMessage `json:"vulnerability"`
	Message       *string         `json:"message"`
}

func decodeQuay(body []byte, _ http.Header) (Result, error) {
	var p quayPayload
	if err := decodeObject(body, &p); err != nil {
		return Result{}, err
	}
	host, repo := quayLocation(&p)
	if repo == "" {
		return Result{}, errors.New("body names no repository")
	}
	var b resultBuilder
	if p.UpdatedTags == nil {
		switch {
		case p.BuildID != "":
			b.skip(repo, "quay build notification, not a push")
		case len(p.Vulnerability) > 0:
			b.skip(repo, "quay vulnerability notification, not a push")
		case p.Message != nil:
			b.skip(repo, "quay repository mirror notification, not a push")
		default:
			b.skip(repo, "quay notification without updated_tags, not a push")
		}
		return b.result(), nil
	}
	tags, err := quayTags(p.UpdatedTags)
	if err != nil {
		return Result{}, err
	}
	if len(tags) == 0 {
		b.skip(repo, "repository push without updated tags")
	}
	for _, tag := range tags {
		b.add(candidate{Push: Push{Host: host, Repository: repo, Tag: tag}})
	}
	return b.result(), nil
}

// quayLocation takes the host from docker_url (quay.io/ns/name) and the
// repository from "repository", falling back to namespace/name and then to
// the path of docker_url.
func quayLocation(p *quayPayload) (host, repo string) {
	ref, ok := parseRef(p.DockerURL)
	if ok {
		host = ref.Host
	}
	repo = repoPath(p.Repository, p.Namespace, p.Name)
	if repo == "" && ok {
		repo = ref.Repository
	}
	return host, repo
}

// quayTags reads updated_tags as a list or as a map, map keys sorted so
// the result does not depend on map order.
func quayTags(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return nil, nil
	case raw[0] == '[':
		var tags []string
		if err := json.Unmarshal(raw, &tags); err != nil {
			return nil, fmt.Errorf("decode updated_tags list: %w", err)
		}
		return tags, nil
	case raw[0] == '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("decode updated_tags map: %w", err)
		}
		tags := make([]string, 0, len(m))
		for t := range m {
			tags = append(tags, t)
		}
		sort.Strings(tags)
		return tags, nil
	}
	return nil, errors.New("updated_tags is neither a list nor a map")
}
