package formats

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// CNCF CloudEvents 1.0 over HTTP, for senders that wrap registry events in
// CloudEvents (Knative, Argo Events, Event Grid in CloudEvents mode, custom
// relays).
// https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md
// https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md
//
// Modes: binary (attributes in ce-* headers, the body is the data),
// structured (Content-Type application/cloudevents+json, or any JSON body
// with "specversion": the event with its data or data_base64) and batched
// (application/cloudevents-batch+json, an array of structured events).
//
// The rule for data, in order:
//  1. type harbor.* — Harbor event data (resources + repository), as in
//     harbor_cloudevents.go; harbor.artifact.pushed is a push.
//  2. type Microsoft.ContainerRegistry.* — ACR event data, as in
//     acr_eventgrid.go; ImagePushed is a push.
//  3. any other type — data is read by shape:
//     - a distribution notification event (action + target, as the CNCF
//       distribution registry and ACR send) or an envelope of them
//       ({"events":[…]}): action push with a tag is a push;
//     - the generic format's body (an event object {"repository","tag",
//       "digest","registry","pushed_at","id","instance_url"}, an
//       {"events":[…]} envelope, or a bare array of events), decoded by the
//       registered "generic" decoder so its rules and its errors apply;
//     - anything else is skipped, naming the type.
//
// The decoder never trusts the type alone to make a push: the data must
// name a repository and a tag.
//
// No handshake reaches this decoder, so it never sets Result.Reply: Event
// Grid subscriptions in the CloudEvents schema prove the endpoint with the
// CloudEvents abuse-protection request (HTTP OPTIONS with
// WebHook-Request-Origin, answered with WebHook-Allowed-Origin), not with
// an event in a body; answering it is the handler's job.
// https://learn.microsoft.com/en-us/azure/event-grid/end-point-validation-cloud-events-schema

func init() { register("cloudevents", decodeCloudEvents) }

// cloudEvent is a structured-mode event. Data stays raw until the type
// says how to read it.
type cloudEvent struct {
	SpecVersion string          `json:"specversion"`
	ID          string          `json:"id"`
	Source      string          `json:"source"`
	Type        string          `json:"type"`
	Subject     string          `json:"subject"`
	Time        string          `json:"time"`
	Data        json.RawMessage `json:"data"`
	DataBase64  string          `json:"data_base64"`
}

// binaryEvent reads a binary-mode CloudEvent: the attributes in ce-*
// headers, the body as its data. ok is false when the request is not in
// binary mode (no ce-specversion).
func binaryEvent(body []byte, header http.Header) (ev cloudEvent, ok bool, err error) {
	sv := header.Get("Ce-Specversion")
	if sv == "" {
		return cloudEvent{}, false, nil
	}
	ev = cloudEvent{
		SpecVersion: sv, ID: header.Get("Ce-Id"), Source: header.Get("Ce-Source"),
		Type: header.Get("Ce-Type"), Subject: header.Get("Ce-Subject"), Time: header.Get("Ce-Time"),
		Data: json.RawMessage(bytes.TrimSpace(body)),
	}
	if ev.Type == "" {
		return ev, true, errors.New("binary mode without ce-type")
	}
	return ev, true, nil
}

func decodeCloudEvents(body []byte, header http.Header) (Result, error) {
	var b resultBuilder
	if ev, ok, err := binaryEvent(body, header); ok {
		if err != nil {
			return Result{}, err
		}
		if err := addCloudEvent(&b, &ev); err != nil {
			return Result{}, err
		}
		return b.result(), nil
	}
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	trimmed := bytes.TrimSpace(body)
	if mt == "application/cloudevents-batch+json" || (len(trimmed) > 0 && trimmed[0] == '[') {
		var events []cloudEvent
		if err := json.Unmarshal(trimmed, &events); err != nil {
			return Result{}, fmt.Errorf("decode batch: %w", err)
		}
		if len(events) == 0 {
			return Result{}, errors.New("empty batch")
		}
		for i := range events {
			if events[i].SpecVersion == "" || events[i].Type == "" {
				return Result{}, fmt.Errorf("batch event %d has no specversion and type", i)
			}
			if err := addCloudEvent(&b, &events[i]); err != nil {
				return Result{}, err
			}
		}
		return b.result(), nil
	}
	var ev cloudEvent
	if err := decodeObject(body, &ev); err != nil {
		return Result{}, err
	}
	if ev.SpecVersion == "" || ev.Type == "" {
		return Result{}, fmt.Errorf("%w, and no ce-specversion header", errNotCloudEvent)
	}
	if err := addCloudEvent(&b, &ev); err != nil {
		return Result{}, err
	}
	return b.result(), nil
}

// addCloudEvent applies the data rule of the file comment.
func addCloudEvent(b *resultBuilder, ev *cloudEvent) error {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 && ev.DataBase64 != "" {
		if raw, err := base64.StdEncoding.DecodeString(ev.DataBase64); err == nil {
			data = bytes.TrimSpace(raw)
		}
	}
	kind := strings.TrimSpace(ev.Type)
	switch {
	case strings.HasPrefix(kind, "harbor."):
		addHarborEvent(b, kind, decodeHarborCEData(data), parseTime(ev.Time), ev.ID, harborDialect{})
		return nil
	case strings.HasPrefix(kind, "Microsoft.ContainerRegistry."):
		if acrEventKind(kind) != acrImagePushedType {
			b.skip(Clip(ev.Subject, 200), eventGridSkipReason(kind))
			return nil
		}
		if !addACRImagePushed(b, data, ev.Time, ev.ID) {
			b.skip(Clip(ev.Subject, 200), "image pushed event whose data is not an ACR event")
		}
		return nil
	}
	if len(data) == 0 || (data[0] != '{' && data[0] != '[') {
		b.skip(Clip(ev.Subject, 200), fmt.Sprintf("cloudevents %s event without JSON data", Clip(kind, 100)))
		return nil
	}
	if data[0] == '[' {
		// An array of generic event objects: the generic envelope without
		// its key.
		data = append(append([]byte(`{"events":`), data...), '}')
	}
	var shape struct {
		Action *json.RawMessage `json:"action"`
		Target *json.RawMessage `json:"target"`
		Events []struct {
			Target *json.RawMessage `json:"target"`
		} `json:"events"`
		Repo *json.RawMessage `json:"repository"`
	}
	if json.Unmarshal(data, &shape) != nil {
		shape.Action, shape.Target, shape.Events, shape.Repo = nil, nil, nil, nil
	}
	switch {
	case shape.Action != nil && shape.Target != nil:
		var d acrEvent
		if json.Unmarshal(data, &d) == nil {
			d.addTo(b, cmp.Or(ev.ID, d.ID))
			return nil
		}
	case len(shape.Events) > 0 && shape.Events[0].Target != nil:
		var env struct {
			Events []acrEvent `json:"events"`
		}
		if json.Unmarshal(data, &env) == nil {
			for i := range env.Events {
				env.Events[i].addTo(b, cmp.Or(env.Events[i].ID, ev.ID))
			}
			return nil
		}
	case shape.Repo != nil || len(shape.Events) > 0:
		return addGenericData(b, ev, data)
	}
	b.skip(Clip(ev.Subject, 200), fmt.Sprintf("cloudevents %s event carries no image push", Clip(kind, 100)))
	return nil
}

// addGenericData decodes data with the registered "generic" format (so
// the generic format's rules and errors apply unchanged) and fills event
// id and time from the CloudEvent where the data has none.
func addGenericData(b *resultBuilder, ev *cloudEvent, data []byte) error {
	dec, ok := Lookup("generic")
	if !ok {
		b.skip(Clip(ev.Subject, 200), "generic event data, but the generic format is not available")
		return nil
	}
	res, err := dec(data, nil)
	if err != nil {
		return fmt.Errorf("%s event data: %w", Clip(ev.Type, 100), err)
	}
	for i := range res.Pushes {
		p := &res.Pushes[i]
		p.EventID = cmp.Or(p.EventID, ev.ID)
		if p.PushedAt.IsZero() {
			p.PushedAt = parseTime(ev.Time)
		}
	}
	b.merge(res)
	return nil
}
