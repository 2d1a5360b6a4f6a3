package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/schedules"
)

// TestE2EScheduleCatchesUpThroughTheQuota: serve wires a full_scan
// schedule to the HSS side. A yearly schedule whose last run is two years
// old catches up its latest fire when the bridge starts: one operate_all
// batch-scan reaches HSS, through the consumer's HSS (quota, call slots),
// and the run is recorded. The first bridge runs without the schedule, so
// that it cannot catch up the fire before the test has recorded the old
// run (schedules/run_test.go covers a run cut off by a stop).
func TestE2EScheduleCatchesUpThroughTheQuota(t *testing.T) {
	e := newE2E(t)
	js, err := jetstreamFor(e.app)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := schedules.OpenBucket(t.Context(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	old := schedules.LastRun{Schedule: "yearly", Action: schedules.ActionFullScan, Fire: time.Now().AddDate(-2, 0, 0).UTC(), Result: schedules.ResultOK}
	b, _ := json.Marshal(old)
	if _, err := kv.Put(t.Context(), "last.yearly", b); err != nil {
		t.Fatal(err)
	}
	e.stop()
	if n := len(e.hss.Requests()); n != 0 {
		t.Fatalf("HSS got %d requests before any fire", n)
	}
	e.cfg.Schedules = []schedules.Config{{Name: "yearly", Cron: "0 0 1 1 *", Action: schedules.ActionFullScan, CatchUp: true,
		FullScan: schedules.FullScan{ScanStatus: "unscan"}}}
	if err := e.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.start()
	natstest.Eventually(t, 30*time.Second, "the missed fire is caught up", func() bool { return len(e.hss.Requests()) == 1 })
	r := e.hss.Requests()[0].Body
	if r.OperateAll == nil || !*r.OperateAll || r.ScanStatus == nil || *r.ScanStatus != "unscan" || r.ImageType == nil || *r.ImageType != "private_image" {
		t.Fatalf("request %+v", r)
	}
	js, _ = jetstreamFor(e.app)
	kv, _ = schedules.AttachBucket(t.Context(), js)
	natstest.Eventually(t, 10*time.Second, "the run is recorded", func() bool {
		lr, ok, _ := schedules.ReadLastRun(t.Context(), kv, "yearly")
		return ok && lr.Result == schedules.ResultOK && lr.Fire.After(old.Fire)
	})
}

func TestSchedulesCLI(t *testing.T) {
	ns := natstest.Start(t)
	cfg := writeDLQConfig(t, fmt.Sprintf(`nats: {url: %s}
hss: {region: cn-north-4, project_id: p1}
lifecycle: {terminal_ttl: 1000h}
receivers:
  - {name: hook, format: distribution, auth: {method: none}}
schedules:
  - {name: nightly, cron: "0 3 * * *", timezone: Asia/Shanghai, action: full_scan}
  - {name: old, cron: "@weekly", action: rescan_older_than, rescan_older_than: {age: 720h}}
`, ns.URL()))
	// Without the bucket (no schedule ran yet): the next fires, "never".
	out, _, err := runDLQCLI(t, "schedules", "list", "-c", cfg, "--next", "2")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	for _, want := range []string{"nightly", "0 3 * * *", "Asia/Shanghai", "full_scan", " 03:00 CST, ", "old", "rescan_older_than", "never"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	kv, err := schedules.OpenBucket(t.Context(), ns.JetStream(), 1)
	if err != nil {
		t.Fatal(err)
	}
	fire := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	b, _ := json.Marshal(schedules.LastRun{Schedule: "old", Action: schedules.ActionRescanOlderThan, Fire: fire, Replica: "pod-1",
		Result: schedules.ResultOK, Found: 12, Sent: 12})
	if _, err := kv.Put(t.Context(), "last.old", b); err != nil {
		t.Fatal(err)
	}
	out, _, err = runDLQCLI(t, "schedules", "list", "-c", cfg, "--json")
	if err != nil {
		t.Fatalf("list --json: %v", err)
	}
	var rows []scheduleRow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r scheduleRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		rows = append(rows, r)
	}
	if len(rows) != 2 || rows[0].LastRun != nil || rows[1].LastRun == nil || rows[1].LastRun.Sent != 12 || len(rows[0].Next) != 3 ||
		rows[0].Next[0].In(time.UTC).Hour() != 19 {
		t.Fatalf("rows %+v", rows)
	}
	out, _, err = runDLQCLI(t, "schedules", "list", "-c", cfg)
	if err != nil || !strings.Contains(out, "ok, 12 found, 12 sent") || !strings.Contains(out, "pod-1") {
		t.Fatalf("list:\n%s %v", out, err)
	}
}
