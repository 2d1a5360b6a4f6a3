package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStoredJobsCarryTheRequestID: the job stored for a webhook names the
// request id the answer names, kept or generated, so the scan's result
// event can point back to the delivery.
func TestStoredJobsCarryTheRequestID(t *testing.T) {
	for _, sent := range []string{"req-42", "", "id with spaces"} {
		t.Run(sent, func(t *testing.T) {
			pub := &memPublisher{}
			e := newTestServer(t, pub, ReceiverConfig{Name: "r", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}})
			req := httptest.NewRequest(http.MethodPost, "/webhooks/r", strings.NewReader(push))
			if sent != "" {
				req.Header.Set("X-Request-Id", sent)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != http.StatusAccepted {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			answered := rec.Header().Get("X-Request-Id")
			pub.mu.Lock()
			defer pub.mu.Unlock()
			if len(pub.jobs) == 0 {
				t.Fatalf("%d jobs stored", len(pub.jobs))
			}
			for _, j := range pub.jobs {
				if j.RequestID == "" || j.RequestID != answered {
					t.Fatalf("job request id %q, answer's %q", j.RequestID, answered)
				}
				if sent == "req-42" && j.RequestID != sent {
					t.Fatalf("job request id %q, sent %q", j.RequestID, sent)
				}
			}
		})
	}
}
