package formats

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Harbor webhooks with payload format "CloudEvents" (Harbor 2.10 and
// later): a structured-mode CloudEvent whose data is the Default format's
// event_data, decoded by harbor.go's parser.
// https://goharbor.io/docs/latest/working-with-projects/project-configuration/configure-webhooks/
//
// {"specversion":"1.0","id","requestid","source":"/projects/2/webhook/policies/15",
//  "type":"harbor.artifact.pushed","datacontenttype":"application/json",
//  "time","data":{"resources":[…],"repository":{…}},"operator"}
// harbor.artifact.pushed is a push per resource; other harbor.* types
// (pulled, deleted, scan, quota, replication, tag retention) are skipped.

func init() { register("harbor-cloudevents", decodeHarborCloudEvents) }

type harborCEEvent struct {
	SpecVersion string           `json:"specversion"`
	ID          string           `json:"id"`
	Type        string           `json:"type"`
	Time        eventTime        `json:"time"`
	Data        *harborEventData `json:"data"`
}

// errNotCloudEvent marks an object without specversion and type.
var errNotCloudEvent = errors.New("body is not a structured CloudEvent (no specversion and type)")

func decodeHarborCloudEvents(body []byte, _ http.Header) (Result, error) {
	var ev harborCEEvent
	if err := decodeObject(body, &ev); err != nil {
		return Result{}, err
	}
	if ev.SpecVersion == "" || ev.Type == "" {
		return Result{}, errNotCloudEvent
	}
	var b resultBuilder
	addHarborEvent(&b, ev.Type, ev.Data, ev.Time.Time, ev.ID, harborDialect{})
	return b.result(), nil
}

// decodeHarborCEData reads CloudEvents data as Harbor event data, or
// returns nil for data that is not (cloudevents.go skips such an event
// instead of refusing the body).
func decodeHarborCEData(raw json.RawMessage) *harborEventData {
	var d harborEventData
	if json.Unmarshal(raw, &d) != nil || (d.Repository == nil && len(d.Resources) == 0) {
		return nil
	}
	return &d
}
