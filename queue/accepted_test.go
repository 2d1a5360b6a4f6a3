package queue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// admit hands jobs to the batcher the way the consumer does after a fetch:
// one chunk, looked up in the accepted set first.
func (h *harness) admit(jobs ...scanjob.Job) []*fakeMsg {
	h.t.Helper()
	fakes := h.newMsgs(jobs...)
	h.admitMsgs(fakes)
	return fakes
}

// newMsgs makes first deliveries of jobs without handing them over.
func (h *harness) newMsgs(jobs ...scanjob.Job) []*fakeMsg {
	h.t.Helper()
	var fakes []*fakeMsg
	for _, j := range jobs {
		h.seq++
		fakes = append(fakes, newFakeMsg(h.t, j, h.seq, 1))
	}
	return fakes
}

func (h *harness) admitMsgs(fakes []*fakeMsg) {
	msgs := make([]message, len(fakes))
	for i, m := range fakes {
		msgs[i] = m
	}
	h.b.admit(context.Background(), msgs)
}

func TestAdmitAcksJobsHSSAlreadyAcceptedAndSendsTheRest(t *testing.T) {
	lookupDown := errors.New("kv bucket unreachable")
	tests := []struct {
		name string
		// accepted: the job's id is in the set before it is delivered.
		accepted  bool
		noMsgID   bool
		seenErr   error
		wantCalls int
		// wantAlready and wantUnchecked are the counters after admit.
		wantAlready, wantUnchecked float64
		wantLookups                int
	}{
		{name: "a job HSS accepted within the window is acked without a call",
			accepted: true, wantCalls: 0, wantAlready: 1, wantLookups: 1},
		{name: "a job HSS has not accepted is sent",
			wantCalls: 1, wantLookups: 1},
		{name: "a job whose lookup failed is sent anyway",
			accepted: true, seenErr: lookupDown, wantCalls: 1, wantUnchecked: 1, wantLookups: 1},
		{name: "a message without an id is sent without a lookup",
			accepted: true, noMsgID: true, wantCalls: 1, wantLookups: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &fakeScanner{}
				cfg := testConfig()
				h := startBatcher(t, cfg, s)
				job := testJob(targetA, "team", "api", "1")
				if tt.accepted {
					h.accepted.set(func(a *fakeAccepted) { a.ids[job.ID()] = true })
				}
				h.accepted.set(func(a *fakeAccepted) { a.seenErr = tt.seenErr })
				m := newFakeMsg(t, job, 1, 1)
				if tt.noMsgID {
					m.d.MsgID = ""
				}
				h.b.admit(context.Background(), []message{m})
				time.Sleep(cfg.Linger)
				synctest.Wait()

				if got := len(s.recorded()); got != tt.wantCalls {
					t.Errorf("%d HSS calls, want %d", got, tt.wantCalls)
				}
				wantOutcome(t, "ack", m)
				if got := testutil.ToFloat64(h.b.metrics.alreadyAccepted); got != tt.wantAlready {
					t.Errorf("already_accepted_total = %v, want %v", got, tt.wantAlready)
				}
				if got := testutil.ToFloat64(h.b.metrics.uncheckedJobs); got != tt.wantUnchecked {
					t.Errorf("accepted_unchecked_total = %v, want %v", got, tt.wantUnchecked)
				}
				if got := h.accepted.lookupCount(); got != tt.wantLookups {
					t.Errorf("%d lookups, want %d", got, tt.wantLookups)
				}
				if n := h.b.held.Load(); n != 0 {
					t.Errorf("%d messages still held", n)
				}
			})
		})
	}
}

func TestAdmitSendsAChunkInOrderAndAcksOnlyTheAcceptedOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{}
		cfg := testConfig()
		cfg.MaxItems = 10
		h := startBatcher(t, cfg, s)
		jobs := []scanjob.Job{
			testJob(targetA, "team", "a", "1"), testJob(targetA, "team", "b", "1"),
			testJob(targetA, "team", "c", "1"), testJob(targetA, "team", "d", "1"),
		}
		h.accepted.set(func(a *fakeAccepted) { a.ids[jobs[1].ID()], a.ids[jobs[3].ID()] = true, true })
		msgs := h.admit(jobs...)
		time.Sleep(cfg.Linger)
		synctest.Wait()

		calls := s.recorded()
		if len(calls) != 1 {
			t.Fatalf("%d calls, want 1", len(calls))
		}
		if got, want := itemNames(calls[0].items), []string{"team/a:1", "team/c:1"}; !slices.Equal(got, want) {
			t.Errorf("sent %v, want %v in fetch order", got, want)
		}
		wantOutcome(t, "ack", msgs...)
		if got := h.accepted.lookupCount(); got != 1 {
			t.Errorf("%d lookups for one chunk, want 1", got)
		}
	})
}

func TestAdmitPausesLookupsAfterAFailureAndWarnsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{}
		cfg := testConfig()
		h := startBatcher(t, cfg, s)
		accepted := testJob(targetA, "team", "api", "1")
		h.accepted.set(func(a *fakeAccepted) {
			a.ids[accepted.ID()] = true
			a.seenErr = errors.New("kv bucket unreachable")
		})

		h.admit(accepted)
		h.b.lookupMu.Lock()
		firstWarning := h.b.lookupWarned
		h.b.lookupMu.Unlock()
		if firstWarning.IsZero() {
			t.Error("the first failed lookup wrote no warning")
		}
		// The bucket is back at once, but lookups stay paused: the next
		// chunks go unchecked without a request.
		h.accepted.set(func(a *fakeAccepted) { a.seenErr = nil })
		time.Sleep(lookupPause - time.Second)
		h.admit(accepted)
		if got := h.accepted.lookupCount(); got != 1 {
			t.Errorf("%d lookups during the pause, want only the failed one", got)
		}
		if got := testutil.ToFloat64(h.b.metrics.uncheckedJobs); got != 2 {
			t.Errorf("accepted_unchecked_total = %v, want 2", got)
		}

		// After the pause (and the unchecked jobs' call), lookups resume
		// and the retry is acked.
		time.Sleep(cfg.Linger)
		synctest.Wait()
		before := len(s.recorded())
		m := h.admit(accepted)
		time.Sleep(cfg.Linger)
		synctest.Wait()
		if got := len(s.recorded()) - before; got != 0 {
			t.Errorf("%d calls for a job HSS accepted once lookups resumed, want 0", got)
		}
		wantOutcome(t, "ack", m...)
		if got := testutil.ToFloat64(h.b.metrics.alreadyAccepted); got != 1 {
			t.Errorf("already_accepted_total = %v, want 1", got)
		}

		// A failure within a minute of the warning logs at debug level
		// and is counted for the next warning.
		h.accepted.set(func(a *fakeAccepted) { a.seenErr = errors.New("kv bucket unreachable") })
		h.admit(testJob(targetA, "team", "api", "2"))
		h.b.lookupMu.Lock()
		failures, warned := h.b.lookupFailures, h.b.lookupWarned
		h.b.lookupMu.Unlock()
		if failures != 1 || !warned.Equal(firstWarning) {
			t.Errorf("a second failure %s after the first warning: %d failures pending, warned again %v; want 1 and no new warning",
				time.Since(firstWarning), failures, !warned.Equal(firstWarning))
		}
	})
}

func TestOnlyAcceptedCallsAreRecorded(t *testing.T) {
	tests := []struct {
		name string
		scan func(ctx context.Context, target scanjob.Target, items []scanjob.Job) error
		// wantRecorded are the images whose ids end up in the set.
		wantRecorded []string
		wantOutcome  string
	}{
		{name: "an accepted call records every message, collapsed ones included",
			wantRecorded: []string{"api", "api", "web"}, wantOutcome: "ack"},
		{name: "a call to retry records nothing",
			scan: func(context.Context, scanjob.Target, []scanjob.Job) error {
				return &verdictError{Verdict{Class: Retry, Status: 503}}
			}, wantOutcome: "nak-delay"},
		{name: "a rejected item is dead-lettered, not recorded",
			scan: func(context.Context, scanjob.Target, []scanjob.Job) error {
				return &verdictError{Verdict{Class: Permanent, Status: 400, Code: "HSS.1001"}}
			}, wantOutcome: "term"},
		{name: "a bisected call records the halves HSS accepted only",
			scan: func(_ context.Context, _ scanjob.Target, items []scanjob.Job) error {
				for _, j := range items {
					if j.Image == "web" {
						return &verdictError{Verdict{Class: Permanent, Status: 400, Code: "HSS.1001"}}
					}
				}
				return nil
			}, wantRecorded: []string{"api", "api"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &fakeScanner{scan: tt.scan}
				cfg := testConfig()
				h := startBatcher(t, cfg, s)
				// Two digests of one tag collapse into one item.
				api1 := testJob(targetA, "team", "api", "1")
				api1.Digest = "sha256:" + strings.Repeat("a", 64)
				api2 := api1
				api2.Digest = "sha256:" + strings.Repeat("b", 64)
				byID := map[string]string{}
				for _, j := range []scanjob.Job{api1, api2, testJob(targetA, "team", "web", "1")} {
					byID[j.ID()] = j.Image
				}
				// The ids are recorded before any message of the call is
				// acked: a crash in between must not cause a second scan.
				msgs := h.newMsgs(api1, api2, testJob(targetA, "team", "web", "1"))
				h.accepted.set(func(a *fakeAccepted) {
					a.onRecord = func(ids []string) {
						for _, m := range msgs {
							if slices.Contains(ids, m.d.MsgID) && m.outcome() != "" {
								t.Errorf("message %s settled (%s) before its id was recorded", m.d.MsgID, m.outcome())
							}
						}
					}
				})
				h.admitMsgs(msgs)
				time.Sleep(cfg.Linger)
				synctest.Wait()

				var got []string
				for _, id := range h.accepted.recorded() {
					got = append(got, byID[id])
				}
				slices.Sort(got)
				if !slices.Equal(got, tt.wantRecorded) {
					t.Errorf("recorded %v, want %v", got, tt.wantRecorded)
				}
				if tt.wantOutcome != "" {
					wantOutcome(t, tt.wantOutcome, msgs...)
				}
			})
		})
	}
}

func TestAFailedRecordStillAcksTheAcceptedCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeScanner{}
		cfg := testConfig()
		h := startBatcher(t, cfg, s)
		h.accepted.set(func(a *fakeAccepted) { a.recordErr = errors.New("kv bucket unreachable") })
		msgs := h.admit(testJob(targetA, "team", "api", "1"), testJob(targetA, "team", "web", "1"))
		time.Sleep(cfg.Linger)
		synctest.Wait()
		wantOutcome(t, "ack", msgs...)
		if got := len(s.recorded()); got != 1 {
			t.Errorf("%d calls, want 1 (a failed record must not turn into a retry)", got)
		}
		if got := testutil.ToFloat64(h.b.metrics.recordErrors); got != 1 {
			t.Errorf("accepted_record_errors_total = %v, want 1", got)
		}
	})
}

func TestAcceptedKeysAreValidAndDistinct(t *testing.T) {
	job := testJob(targetA, "team", "api", "1")
	tests := []struct {
		name, id, want string
	}{
		{"a job id is its own key", job.ID(), job.ID()},
		{"a redrive id is its own key", job.ID() + "-redrive-42", job.ID() + "-redrive-42"},
		{"an id with dots is encoded", "a.b", "b64.YS5i"},
		{"an id with a wildcard and a space is encoded", "x *", "b64.eCAq"},
		{"an id that looks encoded is encoded again", "b64.YS5i", "b64.YjY0LllTNWk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := acceptedKey(tt.id); got != tt.want {
				t.Errorf("acceptedKey(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}
