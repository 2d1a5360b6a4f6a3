package formats

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sonatype Nexus Repository 3 repository webhooks.
// https://help.sonatype.com/en/example-headers-and-payloads.html
//
// A "Webhook: Repository" capability subscribed to "component" events
// posts rm:repository:component (header X-Nexus-Webhook-Id) with action
// CREATED, UPDATED or DELETED and the component. For a docker repository
// the component name is the image and its version the tag, so a CREATED or
// UPDATED docker component is a push; other formats, deletions and asset
// events (rm:repository:asset) are skipped.
//
// With a secret key, Nexus sends X-Nexus-Webhook-Signature: the hex
// HMAC-SHA1 of the body; X-Nexus-Webhook-Delivery is a UUID per delivery.
//
// The host is not in the payload; Push.Repository is the component name
// (the image path inside the Nexus docker repository), as a docker client
// on the repository's connector port names it.

func init() { register("nexus", decodeNexus) }

type nexusPayload struct {
	Timestamp      string `json:"timestamp"`
	RepositoryName string `json:"repositoryName"`
	Action         string `json:"action"`
	Component      *struct {
		Format  string `json:"format"`
		Name    string `json:"name"`
		Group   string `json:"group"`
		Version string `json:"version"`
	} `json:"component"`
	Asset *struct {
		Format string `json:"format"`
		Name   string `json:"name"`
	} `json:"asset"`
	Audit any `json:"audit"`
}

func decodeNexus(body []byte, header http.Header) (Result, error) {
	var p nexusPayload
	if err := decodeObject(body, &p); err != nil {
		return Result{}, err
	}
	var b resultBuilder
	hook := header.Get("X-Nexus-Webhook-Id")
	switch {
	case p.Component == nil && p.Asset != nil:
		b.skip(p.Asset.Name, "nexus asset event, not a component push")
		return b.result(), nil
	case p.Component == nil && p.Audit != nil:
		b.skip("", "nexus audit event, not a component push")
		return b.result(), nil
	case p.Component == nil && hook != "":
		b.skip("", fmt.Sprintf("nexus %s event, not a component push", Clip(hook, 64)))
		return b.result(), nil
	case p.Component == nil:
		return Result{}, errors.New("body has no component")
	}
	c := p.Component
	name := strings.Trim(c.Name, "/")
	if c.Group != "" && !strings.EqualFold(c.Format, "docker") {
		name = c.Group + "/" + name
	}
	ref := refString(name, c.Version, "")
	if !strings.EqualFold(c.Format, "docker") {
		b.skip(ref, fmt.Sprintf("%s component, not a container image", Clip(strings.ToLower(c.Format), 32)))
		return b.result(), nil
	}
	switch strings.ToUpper(p.Action) {
	case "CREATED", "UPDATED":
	case "DELETED":
		b.skip(ref, reasonDelete)
		return b.result(), nil
	default:
		b.skip(ref, fmt.Sprintf("nexus %s event, not a push", Clip(p.Action, 32)))
		return b.result(), nil
	}
	b.add(candidate{Push: Push{
		Repository: name, Tag: c.Version,
		PushedAt: parseTime(p.Timestamp), EventID: header.Get("X-Nexus-Webhook-Delivery"),
	}})
	return b.result(), nil
}
