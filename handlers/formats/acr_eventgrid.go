package formats

import (
	"bytes"
	"encoding/json"
	"errors"
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
// The decoder returns that answer as Result.Reply (and a Skip, so the
// answer's log line says what happened). Event Grid sends the validation
// event alone; a body that mixes it with other events, or whose validation
// event has no code, is not Event Grid's and is refused. (CloudEvents
// schema subscriptions validate with an HTTP OPTIONS request instead, which
// never reaches a decoder.)

func init() { register("acr-eventgrid", decodeACREventGrid) }

// Event types of interest.
const (
	eventGridValidationType = "Microsoft.EventGrid.SubscriptionValidationEvent"
	acrImagePushedType      = "Microsoft.ContainerRegistry.ImagePushed"
)

// reasonEventGridValidation is the Skip reason of a subscription
// validation event.
const reasonEventGridValidation = "event grid subscription validation"

// eventGridValidationReply is the Reply that completes Event Grid's
// subscription validation handshake.
type eventGridValidationReply struct {
	ValidationResponse string `json:"validationResponse"`
}

// Errors of a validation event that cannot be answered.
var (
	errValidationNotAlone    = errors.New("subscription validation event sent with other events")
	errValidationWithoutCode = errors.New("subscription validation event without data.validationCode")
)

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
			return nil, fmt.Errorf("decode events: %w", err)
		}
	case len(trimmed) > 0 && trimmed[0] == '{':
		var ev eventGridEvent
		if err := json.Unmarshal(trimmed, &ev); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		events = []eventGridEvent{ev}
	default:
		return nil, errors.New("body is neither an event array nor an event")
	}
	return events, nil
}

func decodeACREventGrid(body []byte, _ http.Header) (Result, error) {
	events, err := eventGridEvents(body)
	if err != nil {
		return Result{}, err
	}
	if len(events) == 0 {
		return Result{}, errors.New("empty event array")
	}
	var b resultBuilder
	for i := range events {
		ev := &events[i]
		kind := ev.kind()
		if kind == "" {
			return Result{}, fmt.Errorf("event %d has no eventType or type", i)
		}
		switch acrEventKind(kind) {
		case eventGridValidationType:
			reply, err := eventGridValidation(ev, len(events))
			if err != nil {
				return Result{}, fmt.Errorf("event %d: %w", i, err)
			}
			b.res.Reply = reply
			b.skip("", reasonEventGridValidation)
		case acrImagePushedType:
			if !addACRImagePushed(&b, ev.Data, ev.EventTime+ev.Time, ev.ID) {
				return Result{}, fmt.Errorf("event %d: data is not an ACR event", i)
			}
		default:
			b.skip(Clip(ev.Subject, 200), eventGridSkipReason(kind))
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
		return reasonDelete
	case "Microsoft.ContainerRegistry.ChartPushed", "Microsoft.ContainerRegistry.ChartDeleted":
		return reasonHelmChart
	}
	return fmt.Sprintf("event grid %s event, not an image push", Clip(strings.TrimSpace(kind), 100))
}

// eventGridValidation is the reply to a subscription validation event,
// which must be the only event of its body.
func eventGridValidation(ev *eventGridEvent, events int) (eventGridValidationReply, error) {
	if events != 1 {
		return eventGridValidationReply{}, errValidationNotAlone
	}
	var data struct {
		ValidationCode string `json:"validationCode"`
	}
	if json.Unmarshal(ev.Data, &data) != nil || data.ValidationCode == "" {
		return eventGridValidationReply{}, errValidationWithoutCode
	}
	return eventGridValidationReply{ValidationResponse: data.ValidationCode}, nil
}

// addACRImagePushed adds the data of an ImagePushed event, in the Event
// Grid or the CloudEvents schema: an ACR webhook event (acr.go) that may
// leave out its action and its timestamp, which the envelope's time then
// gives. It reports false when the data is not an ACR event.
func addACRImagePushed(b *resultBuilder, data []byte, envelopeTime, eventID string) bool {
	var ev acrEvent
	if json.Unmarshal(data, &ev) != nil || ev.Target == nil {
		return false
	}
	if ev.Action == "" {
		ev.Action = "push"
	}
	if ev.Timestamp == "" {
		ev.Timestamp = envelopeTime
	}
	ev.addTo(b, eventID)
	return true
}
