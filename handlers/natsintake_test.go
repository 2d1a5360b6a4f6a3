package handlers

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

func TestNATSIntakeAnswersLikeHTTP(t *testing.T) {
	nc := natstest.Start(t).Connect()
	pubHTTP, pubNATS := &memPublisher{}, &memPublisher{}
	rc := ReceiverConfig{Name: "ci", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthToken, Secrets: []string{"nats-token-012345"}}}
	httpSrv := newTestServer(t, pubHTTP, rc)
	cfg := DefaultConfig()
	cfg.Receivers = []ReceiverConfig{rc}
	natsSrv, err := New(cfg, Options{Publisher: pubNATS})
	if err != nil {
		t.Fatal(err)
	}
	in, err := natsSrv.ServeNATS(nc, NATSIntakeConfig{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Shutdown(context.Background()) })

	request := func(subject, body string, hdr nats.Header) NATSAnswer {
		t.Helper()
		m := nats.NewMsg(subject)
		m.Data, m.Header = []byte(body), hdr
		reply, err := nc.RequestMsg(m, 5*time.Second)
		if err != nil {
			t.Fatalf("request %s: %v", subject, err)
		}
		var a NATSAnswer
		if err := json.Unmarshal(reply.Data, &a); err != nil {
			t.Fatalf("reply %q: %v", reply.Data, err)
		}
		return a
	}

	tests := []struct {
		name     string
		subject  string
		body     string
		hdr      nats.Header
		wantCode int
	}{
		{"a push in the receiver's format", "scanbridge.intake.ci", push, nil, 202},
		{"the normalized job schema named in the header", "scanbridge.intake.ci",
			`{"jobs":[{"namespace":"team","image_name":"app","image_version":"1.0"},{"namespace":"team","image_name":"app","image_version":"1.1"}]}`,
			nats.Header{FormatHeader: []string{"job"}}, 202},
		{"a digest-only push is ignored", "scanbridge.intake.ci", `{"events":[{"repository":"team/app","digest":"sha256:` + sixtyFour + `"}]}`, nil, 200},
		{"a malformed body", "scanbridge.intake.ci", `nope`, nil, 400},
		{"an unknown format header", "scanbridge.intake.ci", push, nats.Header{FormatHeader: []string{"nope"}}, 400},
		{"an unknown receiver", "scanbridge.intake.nope", push, nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := request(tt.subject, tt.body, tt.hdr)
			if got.Code != tt.wantCode {
				t.Fatalf("code %d, want %d (%+v)", got.Code, tt.wantCode, got.Answer)
			}
		})
	}
	// The same body over HTTP gives the same jobs, with the same ids: the
	// two intakes share one path, and the queue would store each once.
	_, httpAns := send(t, httpSrv, "/webhooks/ci", push, map[string]string{"Authorization": "nats-token-012345"})
	natsAns := request("scanbridge.intake.ci", push, nil)
	if len(httpAns.Jobs) != 2 || len(natsAns.Jobs) != 2 {
		t.Fatalf("jobs: http %+v nats %+v", httpAns.Jobs, natsAns.Jobs)
	}
	for i := range httpAns.Jobs {
		if httpAns.Jobs[i].ID != natsAns.Jobs[i].ID || httpAns.Jobs[i].Image != natsAns.Jobs[i].Image {
			t.Fatalf("job %d differs: http %+v nats %+v", i, httpAns.Jobs[i], natsAns.Jobs[i])
		}
	}
	if !natsAns.Jobs[0].Duplicate {
		t.Fatal("the repeated NATS request must be reported as a duplicate")
	}
}

const sixtyFour = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
