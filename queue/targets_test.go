package queue

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

func TestBatcherDeadLettersJobsForUnknownTargets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{}
		cfg := testConfig()
		h := startBatcher(t, cfg, s)
		off := func(f func(*scanjob.Target)) scanjob.Target { t := targetA; f(&t); return t }
		forged := []struct {
			name   string
			target scanjob.Target
		}{
			{"another project", off(func(t *scanjob.Target) { t.ProjectID = "attacker-project" })},
			{"another region", off(func(t *scanjob.Target) { t.Region = "eu-west-101" })},
			{"an enterprise project no receiver names", off(func(t *scanjob.Target) { t.EnterpriseProjectID = "eps-1" })},
			{"another image type", off(func(t *scanjob.Target) { t.ImageType = scanjob.SharedImage })},
		}
		var bad []*fakeMsg
		for _, f := range forged {
			bad = append(bad, h.send(testJob(f.target, "team", "api", "1")))
		}
		ok := h.send(testJob(targetA, "team", "api", "2"))
		time.Sleep(cfg.Linger)
		synctest.Wait()

		wantOutcome(t, "term", bad...)
		wantOutcome(t, "ack", ok)
		for _, m := range bad {
			if !strings.Contains(m.termReason, "unknown HSS target") {
				t.Errorf("term reason %q, want the unknown target named", m.termReason)
			}
		}
		for _, c := range s.recorded() {
			if c.target != targetA {
				t.Errorf("Scan was called for %s, a target that is not allowed", c.target.Key())
			}
		}
		if calls := s.recorded(); len(calls) != 1 || len(calls[0].items) != 1 || calls[0].items[0].Tag != "2" {
			t.Errorf("calls %+v, want one call with the allowed job alone", calls)
		}
		recs := h.dlq.all()
		if len(recs) != len(forged) {
			t.Fatalf("%d dead letters, want %d", len(recs), len(forged))
		}
		for i, r := range recs {
			if r.Reason != ReasonUnknownTarget || r.Job == nil || r.Class != "permanent" || !strings.Contains(r.Error, r.Job.Target.Key()) {
				t.Errorf("dead letter %d %+v, want unknown_target with the job and its target named", i, r)
			}
		}
		got := map[scanjob.Target]bool{}
		for _, r := range recs {
			got[r.Job.Target] = true
		}
		for _, f := range forged {
			if !got[f.target] {
				t.Errorf("%s: no dead letter records the target %s", f.name, f.target.Key())
			}
		}
		if n := testutil.ToFloat64(h.b.metrics.deadLetters.WithLabelValues(ReasonUnknownTarget)); n != float64(len(forged)) {
			t.Errorf("dead_letters_total{reason=unknown_target} = %v, want %d", n, len(forged))
		}
	})
}

func TestTargetsAllowExactlyTheirMembers(t *testing.T) {
	a := AllowTargets(targetA, targetA, targetB)
	if a.Len() != 2 || !a.Allows(targetA) || !a.Allows(targetB) {
		t.Fatalf("AllowTargets(A, A, B) = %v", a.Keys())
	}
	if a.Allows(scanjob.Target{Region: targetA.Region, ProjectID: targetA.ProjectID, ImageType: scanjob.InstanceImage}) {
		t.Fatal("a target differing in one field is allowed")
	}
	if (Targets{}).Allows(targetA) {
		t.Fatal("the zero Targets allows a target")
	}
}

func TestNewConsumerRefusesAnEmptyAllowList(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewConsumer with no allowed target did not panic")
		}
	}()
	(&Queue{base: testLogger(t)}).NewConsumer(&fakeScanner{}, Targets{})
}
