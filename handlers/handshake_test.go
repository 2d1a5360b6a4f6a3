package handlers

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestEventGridValidationIsEchoedAndStoresNothing(t *testing.T) {
	body, err := os.ReadFile("formats/testdata/acr-eventgrid/subscription-validation.json")
	if err != nil {
		t.Fatal(err)
	}
	pub := &memPublisher{}
	e := newTestServer(t, pub, ReceiverConfig{Name: "acr", Format: "acr-eventgrid", Target: target,
		Auth: AuthConfig{Method: AuthToken, Header: "X-Bridge-Token", Secrets: []string{"handshake-token-01"}}})
	req := httptest.NewRequest(http.MethodPost, "/webhooks/acr", strings.NewReader(string(body)))
	req.Header.Set("X-Bridge-Token", "handshake-token-01")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"validationResponse":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"`) {
		t.Fatalf("got %d %s, want 200 with the validation code", rec.Code, rec.Body)
	}
	if pub.stored() != 0 {
		t.Fatal("a handshake stored a job")
	}
}

func TestCloudEventsAbuseProtection(t *testing.T) {
	e := newTestServer(t, &memPublisher{}, ReceiverConfig{Name: "ce", Format: "cloudevents", Target: target, Auth: AuthConfig{Method: AuthNone}})
	tests := []struct {
		name, path, origin string
		wantCode           int
	}{
		{"a known receiver echoes the origin", "/webhooks/ce", "eventgrid.azure.net", 200},
		{"a request without origin is refused", "/webhooks/ce", "", 400},
		{"an unknown receiver answers the same (no receiver listing)", "/webhooks/nope", "eventgrid.azure.net", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodOptions, tt.path, nil)
			if tt.origin != "" {
				req.Header.Set("WebHook-Request-Origin", tt.origin)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantCode)
			}
			if tt.wantCode == 200 && rec.Header().Get("WebHook-Allowed-Origin") != tt.origin {
				t.Fatalf("WebHook-Allowed-Origin = %q", rec.Header().Get("WebHook-Allowed-Origin"))
			}
		})
	}
}
