package scanner

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// syncBuffer is a log sink several goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines are the JSON log lines whose msg is msg.
func (s *syncBuffer) lines(msg string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(s.b.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// Scan writes the scan_requested record itself on either path (the
// presence gate's or not), once per accepted call, with HSS's request id;
// and every HSS call Scan makes (list, sync, batch-scan) has one INFO
// line with the API, the images, the request id, the result and the jobs.
func TestScanRecordsAndLogsEveryCall(t *testing.T) {
	cases := []struct {
		name     string
		presence bool
		wantAPIs []API
	}{
		{"presence gate off", false, []API{APIBatchScan}},
		{"presence gate on", true, []API{APISwrRepository, APISynchronize, APIBatchScan}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			js := natstest.Start(t).JetStream()
			fake := tokenFake(hsstest.Options{SyncDelay: -1})
			cfg := DefaultConfig()
			cfg.CallsPerMinute, cfg.Burst = 600, 10
			cfg.PresenceCheck = c.presence
			var buf syncBuffer
			h := newTestHSS(t, fake, cfg, slog.New(slog.NewJSONHandler(&buf, nil)))
			store, err := lifecycle.Open(t.Context(), js, lifecycle.Config{})
			mustNot(t, err)
			h.UseLifecycle(store, nil)

			j := scanjob.Job{Receiver: "r", Registry: "harbor", Namespace: "team", Image: "app", Tag: "1", Target: testTarget,
				AcceptedAt: time.Now()}
			ht := hsstest.Target{Region: testTarget.Region, ProjectID: testTarget.ProjectID}
			fake.PushToSWR(ht, string(testTarget.ImageType), j.Namespace, j.Image, j.Tag, "", time.Now())
			// With the gate, the first check does not find it; the sync
			// it asks for makes HSS learn it, and the next check does.
			if c.presence {
				_ = h.Scan(t.Context(), testTarget, []scanjob.Job{j})
				h.presence.cfg.ListInterval = 0
			}
			mustNot(t, h.Scan(t.Context(), testTarget, []scanjob.Job{j}))

			rec, _, err := store.Get(t.Context(), lifecycle.KeyOf(j))
			mustNot(t, err)
			if rec.State != lifecycle.ScanRequested || rec.ScanAttempts != 1 || rec.LastAnswer.RequestID == "" {
				t.Errorf("record %s, %d scan attempts, last answer %+v; want scan_requested once with HSS's request id",
					rec.State, rec.ScanAttempts, rec.LastAnswer)
			}
			seen := map[API]bool{}
			for _, l := range buf.lines("hss call") {
				api := API(l["api"].(string))
				seen[api] = true
				ids, _ := l["job_ids"].([]any)
				if l["request_id"] == "" || l["result"] != "ok" || len(ids) != 1 || ids[0] != j.ID() || l["images"] != 1.0 {
					t.Errorf("hss call line %v: want the request id, result ok, the one job and image", l)
				}
			}
			for _, api := range c.wantAPIs {
				if !seen[api] {
					t.Errorf("no hss call line for %s", api)
				}
			}
			if n := len(buf.lines("image scan_requested")); n != 1 {
				t.Errorf("%d 'image scan_requested' lines, want 1", n)
			}
		})
	}
}
