package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Azure Container Registry events delivered by Azure Event Grid to a
// webhook endpoint, in the Event Grid schema (an array of events with
// eventType/eventTime) or the CloudEvents 1.0 schema (type/time; one
// object, or an array in batch mode).
// https://learn.microsoft.com/en-us/azure/event-grid/event-schema-container-registry
//
// Microsoft.ContainerRegistry.ImagePushed carries the same data as an ACR
// webhook push (acr.go). ImageDeleted, ChartPushed and ChartDeleted are
// skipped.
//
// Before delivering anything, Event Grid proves the endpoint with a
// Microsoft.EventGrid.SubscriptionValidationEvent whose data.validationCode
// must be echoed back in the body of a 200 answer (202 is not accepted):
// {"validationResponse": "<code>"}.
// https://learn.microsoft.com/en-us/azure/event-grid/end-point-validation-event-grid-events-schema
// The Decoder API has no way to return a body, so the decoder reports the
// validation as a Skip with reason EventGridValidationReason and
// EventGridValidation gives the handler the answer to send. (CloudEvents
// schema subscriptions validate with an HTTP OPTIONS request instead, which
// never reaches a decoder.)

func init() { register("acr-eventgrid", decodeACREventGrid) }

// Event types of interest.
const (
	eventGridValidationType = "Microsoft.EventGrid.SubscriptionValidationEvent"
	acrImagePushedType      = "Microsoft.ContainerRegistry.ImagePushed"
)

// EventGridValidationReason is the Skip reason of a subscription
// validation event; the handler that sees it must answer 200 with
// EventGridValidation's reply.
const EventGridValidationReason = "event grid subscription validation"

// EventGridValidationReply is the body that completes Event Grid's
// subscription validation handshake.
type EventGridValidationReply struct {
	ValidationResponse string `json:"validationResponse"`
}

// EventGridValidation reports whether body is an Event Grid subscription
// validation request and, if so, the reply that proves the endpoint. It
// never fails: a body that is not a validation event is simply not one.
func EventGridValidation(body []byte) (EventGridValidationReply, bool) {
	events, err := eventGridEvents(body)
	if err != nil {
		return EventGridValidationReply{}, false
	}
	for _, ev := range events {
		if ev.kind() != eventGridValidationType {
			continue
		}
		var data struct {
			ValidationCode string `json:"validationCode"`
		}
		if json.Unmarshal(ev.Data, &data) == nil && data.ValidationCode != "" {
			return EventGridValidationReply{ValidationResponse: data.ValidationCode}, true
		}
	}
	return EventGridValidationReply{}, false
}

// eventGridEvent is one event in either schema.
type eventGridEvent struct {
	ID        string          `json:"id"`
	Subject   string          `json:"subject"`
	EventType string          `json:"eventType"` // Event Grid schema
	EventTime string          `json:"eventTime"`
	Type      string          `json:"type"` // CloudEvents schema
	Time      string          `json:"time"`
	Data      json.RawMessage `json:"data"`
}

func (ev *eventGridEvent) kind() string {
	if ev.EventType != "" {
		return ev.EventType
	}
	return ev.Type
}

// eventGridEvents reads an array of events or a single event.
func eventGridEvents(body []byte) ([]eventGridEvent, error) {
	trimmed := bytes.TrimSpace(body)
	var events []eventGridEvent
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &events); err != nil {
			return nil, fmt.Errorf("acr-eventgrid: decode events: %w", err)
		}
	case len(trimmed) > 0 && trimmed[0] == '{':
		var ev eventGridEvent
		if err := json.Unmarshal(trimmed, &ev); err != nil {
			return nil, fmt.Errorf("acr-eventgrid: decode event: %w", err)
		}
		events = []eventGridEvent{ev}
	default:
		return nil, fmt.Errorf("acr-eventgrid: body is neither an event array nor an event")
	}
	return events, nil
}

func decodeACREventGrid(body []byte, _ http.Header) (Result, error) {
	events, err := eventGridEvents(body)
	if err != nil {
		return Result{}, err
	}
	if len(events) == 0 {
		return Result{}, fmt.Errorf("acr-eventgrid: empty event array")
	}
	var b resultBuilder
	for i := range events {
		ev := &events[i]
		kind := ev.kind()
		if kind == "" {
			return Result{}, fmt.Errorf("acr-eventgrid: event %d has no eventType or type", i)
		}
		switch acrEventKind(kind) {
		case eventGridValidationType:
			b.skip("", EventGridValidationReason)
		case acrImagePushedType:
			var data acrEvent
			if err := json.Unmarshal(ev.Data, &data); err != nil || data.Target == nil {
				return Result{}, fmt.Errorf("acr-eventgrid: event %d: data is not an ACR event", i)
			}
			if data.Action == "" {
				data.Action = "push"
			}
			if data.Timestamp == "" {
				data.Timestamp = ev.EventTime + ev.Time
			}
			data.addTo(&b, ev.ID)
		default:
			b.skip(clip(ev.Subject, 200), eventGridSkipReason(kind))
		}
	}
	return b.result(), nil
}

// acrEventKind restores the Microsoft.ContainerRegistry. prefix of a bare
// ACR event name ("ImagePushed", as in an older version of the Event Grid
// schema page); other names pass unchanged.
func acrEventKind(kind string) string {
	switch kind {
	case "ImagePushed", "ImageDeleted", "ChartPushed", "ChartDeleted":
		return "Microsoft.ContainerRegistry." + kind
	}
	return kind
}

func eventGridSkipReason(kind string) string {
	switch acrEventKind(kind) {
	case "Microsoft.ContainerRegistry.ImageDeleted":
		return "delete event, not a push"
	case "Microsoft.ContainerRegistry.ChartPushed", "Microsoft.ContainerRegistry.ChartDeleted":
		return "helm chart, not a container image"
	}
	return fmt.Sprintf("event grid %s event, not an image push", clip(strings.TrimSpace(kind), 100))
}
