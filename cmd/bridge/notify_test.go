package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/notify"
)

// TestResultWebhookIsWired starts the bridge with one result webhook and
// finishes an image as the scanner does (the lifecycle publisher): the
// webhook gets the event, signed, and the bridge shuts down cleanly.
func TestResultWebhookIsWired(t *testing.T) {
	var (
		mu  sync.Mutex
		got []http.Header
		ev  lifecycle.Event
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Header.Clone())
		_ = json.Unmarshal(body, &ev)
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	e := newE2E(t, func(c *config.Config) {
		c.Notify.Webhooks = []notify.WebhookConfig{{Name: "ci", URL: rcv.URL, AllowHTTP: true,
			Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Match: notify.Match{Receivers: []string{"harbor"}}}}
	})
	if e.app.notify == nil {
		t.Fatal("no notifier started")
	}
	rec := lifecycle.Record{Key: "team.app.v1.d.t", Receiver: "harbor", Namespace: "team", Image: "app", Tag: "v1",
		State: lifecycle.Scanned, Generation: 1, FinishedAt: time.Now().UTC()}
	if err := e.app.life.pub.Publish(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 20*time.Second, "the webhook got the result", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if got[0].Get("webhook-id") != lifecycle.EventID(rec) || got[0].Get("webhook-signature") == "" || ev.Data.Namespace != "team" {
		t.Errorf("headers %v, event %+v", got[0], ev)
	}
}
