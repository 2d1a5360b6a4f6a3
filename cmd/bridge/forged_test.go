package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/queue"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// TestE2EAForgedJobNeverReachesHSS is the threat itself: a client that
// can publish on the job stream (here in-process; in production whoever
// holds the NATS password or sits on an external NATS) puts a job there
// that names a project of its choosing. The consumer must not sign and
// send it: it is dead-lettered as unknown_target, while a webhook's job
// goes through. Once the operator adds that project to the config, a
// redrive sends it as usual.
func TestE2EAForgedJobNeverReachesHSS(t *testing.T) {
	e := newE2E(t)
	nc, err := nats.Connect("", nats.InProcessServer(e.app.ns))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	forged := scanjob.Job{Receiver: "harbor", Registry: "harbor", Namespace: "team", Image: "forged", Tag: "1.0",
		Target: scanjob.Target{Region: "cn-north-4", ProjectID: "attacker-project", ImageType: scanjob.PrivateImage}}
	body, err := json.Marshal(forged)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), "scanjobs.private_image.team", body, jetstream.WithMsgID(forged.ID())); err != nil {
		t.Fatalf("publish the forged job: %v", err)
	}
	if code, ans := e.post(harborPush("team", "app", "1.0"), testToken); code != http.StatusAccepted {
		t.Fatalf("webhook: %d %+v", code, ans)
	}

	natstest.Eventually(t, 30*time.Second, "the webhook's job at HSS", func() bool { return delivered(e.hss)["team/app:1.0"] == 1 })
	var dls []queue.DeadLetter
	natstest.Eventually(t, 30*time.Second, "the forged job dead-lettered", func() bool {
		dls, err = e.app.q.DeadLetters().List(context.Background(), queue.Filter{})
		return err == nil && len(dls) == 1
	})
	if dl := dls[0]; dl.Reason != queue.ReasonUnknownTarget || dl.Job == nil || dl.Job.Target != forged.Target {
		t.Fatalf("dead letter %+v, want reason %s recording the target %s", dl, queue.ReasonUnknownTarget, forged.Target.Key())
	}
	for _, r := range e.hss.Requests() {
		if r.Target.ProjectID != e.cfg.HSS.ProjectID {
			t.Fatalf("HSS was called for project %s", r.Target.ProjectID)
		}
	}
	if n := delivered(e.hss)["team/forged:1.0"]; n != 0 {
		t.Fatalf("the forged job reached HSS %d times", n)
	}
	for _, r := range e.hss.Refusals() {
		if strings.Contains(r.Path, forged.Target.ProjectID) {
			t.Fatalf("HSS was called (and refused) for the forged project: %+v", r)
		}
	}

	// The operator decides the project is theirs after all: a receiver
	// for it, a restart, a redrive; the job goes through like any other.
	e.stop()
	e.cfg.Receivers = append(e.cfg.Receivers, handlers.ReceiverConfig{Name: "other", Format: "harbor",
		Auth: handlers.AuthConfig{Method: handlers.AuthToken, Secrets: []string{testToken}}, Target: scanjob.Target{ProjectID: "attacker-project"}})
	e.start()
	rep, err := e.app.q.DeadLetters().Redrive(t.Context(), queue.Filter{}, false)
	if err != nil || len(rep.Redriven) != 1 {
		t.Fatalf("redrive = %+v, %v", rep, err)
	}
	natstest.Eventually(t, 30*time.Second, "the redriven job at HSS", func() bool { return delivered(e.hss)["team/forged:1.0"] == 1 })
}
