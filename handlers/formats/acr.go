package formats

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Azure Container Registry webhooks
// (https://learn.microsoft.com/en-us/azure/container-registry/container-registry-webhook-reference).
//
// ACR posts one event per request: id, timestamp, action, target
// (repository, tag, digest, mediaType) and request.host. Actions are push,
// delete, quarantine, chart_push, chart_delete (and ping from "az acr
// webhook ping"); only push is an image push. ACR adds no headers of its
// own and signs nothing: the only proof it can send is a custom header the
// administrator types into the webhook (for example an Authorization
// bearer value).
//
// The event body is the distribution notification event shape, which
// Event Grid (acr_eventgrid.go) and CloudEvents (cloudevents.go) carry
// too; acrEvent.candidate is the one mapping of it.

func init() { register("acr", decodeACR) }

// acrEvent is an ACR event: the webhook body, or the data of an Event Grid
// Microsoft.ContainerRegistry.* event.
type acrEvent struct {
	ID        string     `json:"id"`
	Timestamp string     `json:"timestamp"`
	Action    string     `json:"action"`
	Target    *acrTarget `json:"target"`
	Request   *struct {
		ID   string `json:"id"`
		Host string `json:"host"`
	} `json:"request"`
}

type acrTarget struct {
	MediaType  string `json:"mediaType"`
	Digest     string `json:"digest"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Name       string `json:"name"`    // chart events
	Version    string `json:"version"` // chart events
}

func decodeACR(body []byte, _ http.Header) (Result, error) {
	var ev acrEvent
	if err := decodeObject(body, &ev); err != nil {
		return Result{}, err
	}
	if ev.Action == "" || ev.Target == nil {
		return Result{}, errors.New("body has no action and target")
	}
	var b resultBuilder
	ev.addTo(&b, ev.ID)
	return b.result(), nil
}

// addTo adds the event as a push or a skip. eventID is the id to report
// (the webhook event id, or the Event Grid envelope id).
func (ev *acrEvent) addTo(b *resultBuilder, eventID string) {
	t := ev.Target
	if t == nil {
		t = &acrTarget{}
	}
	repo := t.Repository
	switch strings.ToLower(ev.Action) {
	case "push":
	case "chart_push", "chart_delete":
		b.skip(refString(repo, t.Tag, t.Digest), reasonHelmChart)
		return
	case "delete":
		b.skip(refString(repo, t.Tag, t.Digest), reasonDelete)
		return
	case "quarantine":
		b.skip(refString(repo, t.Tag, t.Digest), "quarantine event, not a push")
		return
	case "ping":
		b.skip("", "acr ping event")
		return
	case "pull":
		b.skip(refString(repo, t.Tag, t.Digest), reasonPull)
		return
	default:
		b.skip(refString(repo, t.Tag, t.Digest), fmt.Sprintf("%s event, not a push", Clip(ev.Action, 64)))
		return
	}
	p := Push{
		Repository: repo, Tag: t.Tag, Digest: t.Digest, MediaType: t.MediaType,
		PushedAt: parseTime(ev.Timestamp), EventID: eventID,
	}
	if ev.Request != nil {
		p.Host = strings.ToLower(strings.TrimSpace(ev.Request.Host))
	}
	b.add(candidate{Push: p})
}
