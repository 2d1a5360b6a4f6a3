package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scan-bridge/scan-bridge/handlers/formats"
)

// quayPush is a Quay repository push naming n tags, the shape of
// handlers/formats/testdata/quay/repo_push-list.json.
func quayPush(n int) string {
	var b strings.Builder
	b.WriteString(`{"name":"app","repository":"team/app","namespace":"team","docker_url":"quay.io/team/app","homepage":"https://quay.io/repository/team/app","updated_tags":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"t%d"`, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// genericEvents is a generic body with n tagged pushes and then the
// digest-only ones.
func genericEvents(tagged, digestOnly int) string {
	var events []string
	for i := range tagged {
		events = append(events, fmt.Sprintf(`{"repository":"team/app","tag":"v%d"}`, i))
	}
	for range digestOnly {
		events = append(events, `{"repository":"team/app","digest":"sha256:`+sixtyFour+`"}`)
	}
	return `{"events":[` + strings.Join(events, ",") + `]}`
}

// TestJobsPerRequestCap replays the 110,000-tag Quay body: it is refused
// whole with 413 and a short answer, nothing is stored, and the request
// is one log line, not 110,000.
func TestJobsPerRequestCap(t *testing.T) {
	var logs bytes.Buffer
	pub := &countingPublisher{}
	cfg := DefaultConfig()
	cfg.Receivers = []ReceiverConfig{
		{Name: "quay", Format: "quay", Target: target, MaxBodyBytes: 2 << 20, // let the body through to the jobs cap
			Auth: AuthConfig{Method: AuthPathToken, Secrets: []string{pathToken}}},
		{Name: "ci", Format: "generic", Target: target, MaxJobs: 2, Auth: AuthConfig{Method: AuthNone}},
	}
	s, err := New(cfg, Options{Publisher: pub, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := s.NewEcho()

	tests := []struct {
		name       string
		path, body string
		wantCode   int
		wantReason string
		wantJobs   int
	}{
		{"a Quay push of 110,000 tags is refused whole", "/webhooks/quay/" + pathToken, quayPush(110_000), 413,
			"body holds 110000 tagged pushes; this receiver accepts at most 1000 per request; nothing was stored", 0},
		{"a Quay push of 1,000 tags is within the default", "/webhooks/quay/" + pathToken, quayPush(1000), 202, "", 1000},
		{"max_jobs pushes are accepted", "/webhooks/ci", genericEvents(2, 0), 202, "", 2},
		{"one push over max_jobs is refused", "/webhooks/ci", genericEvents(3, 0), 413,
			"body holds 3 tagged pushes; this receiver accepts at most 2 per request; nothing was stored", 0},
		{"events passed over count too (each is a line in the answer)", "/webhooks/ci", genericEvents(2, 1), 413,
			"body holds 3 events (2 tagged pushes); this receiver accepts at most 2 per request; nothing was stored", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			pub.calls.Store(0)
			req := httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body))
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			var ans Answer
			if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
				t.Fatalf("answer %q: %v", formats.Clip(rec.Body.String(), 200), err)
			}
			if rec.Code != tt.wantCode || ans.Reason != tt.wantReason || len(ans.Jobs) != tt.wantJobs {
				t.Fatalf("got %d %q with %d jobs, want %d %q with %d", rec.Code, ans.Reason, len(ans.Jobs), tt.wantCode, tt.wantReason, tt.wantJobs)
			}
			if tt.wantCode == 413 {
				if n := pub.calls.Load(); n != 0 {
					t.Fatalf("a refused body published %d jobs", n)
				}
				if rec.Body.Len() > 1024 {
					t.Fatalf("the refusal is %d bytes", rec.Body.Len())
				}
			}
			if n := strings.Count(logs.String(), "\n"); n != 1 {
				t.Fatalf("%d log lines for one request, want 1:\n%s", n, formats.Clip(logs.String(), 2000))
			}
		})
	}
}

// TestOneSummaryLinePerRequest checks the log of an accepted request: one
// info line with the counts and the first images, the jobs at debug.
func TestOneSummaryLinePerRequest(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			var logs bytes.Buffer
			cfg := DefaultConfig()
			cfg.Receivers = []ReceiverConfig{{Name: "ci", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}}}
			s, err := New(cfg, Options{Publisher: &memPublisher{}, Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: level}))})
			if err != nil {
				t.Fatal(err)
			}
			e := s.NewEcho()
			send(t, e, "/webhooks/ci", genericEvents(2, 0), nil)
			logs.Reset()
			code, ans := send(t, e, "/webhooks/ci", genericEvents(7, 1), map[string]string{"X-Request-Id": "req-7"})
			if code != 202 {
				t.Fatalf("status %d (%+v)", code, ans)
			}
			var summaries, jobLines int
			for line := range strings.Lines(logs.String()) {
				var rec struct {
					Level, Msg, Receiver      string
					RequestID                 string `json:"request_id"`
					Jobs, Duplicates, Skipped int
					Images                    []string
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				switch rec.Msg {
				case "webhook accepted":
					summaries++
					want := []string{"team/app:v0", "team/app:v1", "team/app:v2", "team/app:v3", "team/app:v4", "…"}
					if rec.Level != "INFO" || rec.Receiver != "ci" || rec.RequestID != "req-7" || rec.Jobs != 7 ||
						rec.Duplicates != 2 || rec.Skipped != 1 || fmt.Sprint(rec.Images) != fmt.Sprint(want) {
						t.Fatalf("summary line %s", line)
					}
				case "job stored":
					jobLines++
					if rec.Level != "DEBUG" {
						t.Fatalf("a job line at %s: %s", rec.Level, line)
					}
				}
			}
			wantJobLines := 0
			if level == slog.LevelDebug {
				wantJobLines = 7
			}
			if summaries != 1 || jobLines != wantJobLines {
				t.Fatalf("%d summary lines and %d job lines, want 1 and %d:\n%s", summaries, jobLines, wantJobLines, logs.String())
			}
		})
	}
}
