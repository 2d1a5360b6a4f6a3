package handlers

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// replayStep is one request of a replay scenario.
type replayStep struct {
	advance    time.Duration // moved on the clock before the request
	failStore  bool
	path       string
	id         string // delivery id (X-GitHub-Delivery or webhook-id)
	body       string // default push
	resign     bool   // standard-webhooks: sign with the current time, not the first step's
	wantCode   int
	wantStatus string
	wantCalls  int32 // Publish calls so far
}

func TestReplayThroughTheRoute(t *testing.T) {
	recvs := []ReceiverConfig{
		{Name: "gh", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthHMAC, Header: "X-Hub-Signature-256",
			Prefix: "sha256=", Secrets: []string{"gh-webhook-secret-1"}, Replay: ReplayConfig{IDHeader: "X-GitHub-Delivery"}}},
		{Name: "gh2", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthHMAC, Header: "X-Hub-Signature-256",
			Prefix: "sha256=", Secrets: []string{"gh-webhook-secret-1"}, Replay: ReplayConfig{IDHeader: "X-GitHub-Delivery"}}},
		{Name: "sw", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthStandardWebhooks, Secrets: []string{whSecret}}},
	}
	other := strings.Replace(push, "1.0", "3.0", 1)
	tests := []struct {
		name  string
		steps []replayStep
	}{
		{"a redelivered GitHub delivery is answered as a duplicate without publishing", []replayStep{
			{path: "/webhooks/gh", id: "d1", wantCode: 202, wantStatus: "accepted", wantCalls: 2},
			{path: "/webhooks/gh", id: "d1", wantCode: 200, wantStatus: "ignored", wantCalls: 2},
		}},
		{"a retry after a 503 is processed in full, then remembered", []replayStep{
			{path: "/webhooks/gh", id: "d1", failStore: true, wantCode: 503, wantStatus: "error", wantCalls: 1},
			{path: "/webhooks/gh", id: "d1", wantCode: 202, wantStatus: "accepted", wantCalls: 3},
			{path: "/webhooks/gh", id: "d1", wantCode: 200, wantStatus: "ignored", wantCalls: 3},
		}},
		{"a body refused as malformed does not make its id a duplicate", []replayStep{
			{path: "/webhooks/gh", id: "d1", body: `{"events":"nope"}`, wantCode: 400, wantStatus: "error", wantCalls: 0},
			{path: "/webhooks/gh", id: "d1", wantCode: 202, wantStatus: "accepted", wantCalls: 2},
		}},
		{"a new delivery id with the same content is processed and left to the queue's dedup", []replayStep{
			{path: "/webhooks/gh", id: "d1", wantCode: 202, wantStatus: "accepted", wantCalls: 2},
			{path: "/webhooks/gh", id: "d2", wantCode: 202, wantStatus: "accepted", wantCalls: 4},
		}},
		{"a delivery id is forgotten once the window has passed", []replayStep{
			{path: "/webhooks/gh", id: "d1", wantCode: 202, wantStatus: "accepted", wantCalls: 2},
			{path: "/webhooks/gh", id: "d1", advance: 9 * time.Minute, wantCode: 200, wantStatus: "ignored", wantCalls: 2},
			{path: "/webhooks/gh", id: "d1", advance: time.Minute, wantCode: 202, wantStatus: "accepted", wantCalls: 4},
		}},
		{"delivery ids are remembered per receiver", []replayStep{
			{path: "/webhooks/gh", id: "d1", wantCode: 202, wantStatus: "accepted", wantCalls: 2},
			{path: "/webhooks/gh2", id: "d1", body: other, wantCode: 202, wantStatus: "accepted", wantCalls: 4},
		}},
		{"a request without delivery id is processed every time", []replayStep{
			{path: "/webhooks/gh", wantCode: 202, wantStatus: "accepted", wantCalls: 2},
			{path: "/webhooks/gh", wantCode: 202, wantStatus: "accepted", wantCalls: 4},
		}},
		{"a Standard Webhooks copy within the tolerance is a duplicate", []replayStep{
			{path: "/webhooks/sw", id: "msg_1", wantCode: 202, wantStatus: "accepted", wantCalls: 2},
			{path: "/webhooks/sw", id: "msg_1", advance: time.Minute, wantCode: 200, wantStatus: "ignored", wantCalls: 2},
		}},
		{"a Standard Webhooks copy past the tolerance is refused", []replayStep{
			{path: "/webhooks/sw", id: "msg_1", wantCode: 202, wantStatus: "accepted", wantCalls: 2},
			{path: "/webhooks/sw", id: "msg_1", advance: 5*time.Minute + time.Second, wantCode: 401, wantStatus: "error", wantCalls: 2},
		}},
		{"a sender retry re-signed later under the same id is a duplicate", []replayStep{
			{path: "/webhooks/sw", id: "msg_1", wantCode: 202, wantStatus: "accepted", wantCalls: 2},
			{path: "/webhooks/sw", id: "msg_1", advance: 7 * time.Minute, resign: true, wantCode: 200, wantStatus: "ignored", wantCalls: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			pub := &countingPublisher{}
			e := newAuthServer(t, pub, nil, clk, recvs...)
			signedAt := clk.now().Unix()
			for i, st := range tt.steps {
				clk.advance(st.advance)
				if st.resign {
					signedAt = clk.now().Unix()
				}
				body := st.body
				if body == "" {
					body = push
				}
				h := map[string]string{}
				if strings.HasSuffix(st.path, "/sw") {
					h["webhook-id"], h["webhook-timestamp"] = st.id, strconv.FormatInt(signedAt, 10)
					h["webhook-signature"] = signStandard(whKey, st.id, signedAt, body)
				} else {
					h["X-Hub-Signature-256"] = "sha256=" + hex.EncodeToString(hmacSHA256("gh-webhook-secret-1", body))
					if st.id != "" {
						h["X-GitHub-Delivery"] = st.id
					}
				}
				pub.mu.Lock()
				pub.fail = nil
				if st.failStore {
					pub.fail = errors.New("nats: no responders available for request")
				}
				pub.mu.Unlock()
				code, ans := send(t, e, st.path, body, h)
				if code != st.wantCode || ans.Status != st.wantStatus {
					t.Fatalf("step %d: got %d %q, want %d %q (answer %+v)", i+1, code, ans.Status, st.wantCode, st.wantStatus, ans)
				}
				if n := pub.calls.Load(); n != st.wantCalls {
					t.Fatalf("step %d: %d Publish calls so far, want %d", i+1, n, st.wantCalls)
				}
			}
		})
	}
}

func TestSeenIDs(t *testing.T) {
	const window = 10 * time.Minute
	tests := []struct {
		name     string
		limit    int
		run      func(s *seenIDs, clk *fakeClock)
		wantSeen map[string]bool
		wantLen  int
	}{
		{"an id is seen until its window ends", 10, func(s *seenIDs, clk *fakeClock) {
			s.remember("a")
			clk.advance(window - time.Second)
		}, map[string]bool{"a": true, "b": false}, 1},
		{"an id is forgotten when its window ends", 10, func(s *seenIDs, clk *fakeClock) {
			s.remember("a")
			clk.advance(window)
		}, map[string]bool{"a": false}, 0},
		{"remembering an id again starts a new window", 10, func(s *seenIDs, clk *fakeClock) {
			s.remember("a")
			clk.advance(window - time.Minute)
			s.remember("a")
			clk.advance(2 * time.Minute)
		}, map[string]bool{"a": true}, 1},
		{"past the bound the oldest id is forgotten first", 3, func(s *seenIDs, clk *fakeClock) {
			for _, id := range []string{"a", "b", "c", "d"} {
				s.remember(id)
				clk.advance(time.Second)
			}
		}, map[string]bool{"a": false, "b": true, "c": true, "d": true}, 3},
		{"long ids cost one entry each and do not collide on a prefix", 10, func(s *seenIDs, clk *fakeClock) {
			s.remember(strings.Repeat("x", 10000) + "1")
		}, map[string]bool{strings.Repeat("x", 10000) + "1": true, strings.Repeat("x", 10000) + "2": false}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			s := newSeenIDs(window, tt.limit, &clock{now: clk.now})
			tt.run(s, clk)
			for id, want := range tt.wantSeen {
				if got := s.seen(id); got != want {
					t.Errorf("seen(%.12s…) = %t, want %t", id, got, want)
				}
			}
			if got := s.len(); got != tt.wantLen {
				t.Errorf("remembers %d ids, want %d", got, tt.wantLen)
			}
		})
	}
}
