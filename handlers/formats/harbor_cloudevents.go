package formats

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Harbor webhooks with payload format "CloudEvents" (Harbor 2.10 and
// later): a structured-mode CloudEvent whose data is the Default format's
// event_data.
// https://goharbor.io/docs/latest/working-with-projects/project-configuration/configure-webhooks/
//
// {"specversion":"1.0","id","requestid","source":"/projects/2/webhook/policies/15",
//  "type":"harbor.artifact.pushed","datacontenttype":"application/json",
//  "time","data":{"resources":[…],"repository":{…}},"operator"}
// harbor.artifact.pushed is a push per resource; other harbor.* types
// (pulled, deleted, scan, quota, replication, retention) are skipped.

func init() { register("harbor-cloudevents", decodeHarborCloudEvents) }

type harborCEEvent struct {
	SpecVersion string            `json:"specversion"`
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	Time        string            `json:"time"`
	Data        *legacyHarborData `json:"data"`
}

func decodeHarborCloudEvents(body []byte, _ http.Header) (Result, error) {
	var ev harborCEEvent
	if err := decodeObject("harbor-cloudevents", body, &ev); err != nil {
		return Result{}, err
	}
	if ev.SpecVersion == "" || ev.Type == "" {
		return Result{}, fmt.Errorf("harbor-cloudevents: body is not a structured CloudEvent (no specversion and type)")
	}
	var b resultBuilder
	addHarborCEEvent(&b, ev)
	return b.result(), nil
}

func addHarborCEEvent(b *resultBuilder, ev harborCEEvent) {
	kind := legacyHarborKind(ev.Type)
	if ev.Data == nil {
		b.skip("", kind)
		return
	}
	ev.Data.addTo(b, kind, parseTimestamp(ev.Time), ev.ID)
}

// decodeHarborCEData reads CloudEvents data as Harbor event data.
func decodeHarborCEData(raw json.RawMessage) (*legacyHarborData, bool) {
	var d legacyHarborData
	if json.Unmarshal(raw, &d) != nil || (d.Repository == nil && len(d.Resources) == 0) {
		return nil, false
	}
	return &d, true
}
