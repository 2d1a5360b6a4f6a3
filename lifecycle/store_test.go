package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

func testJob(ns, image, tag string) scanjob.Job {
	return scanjob.Job{
		Receiver: "harbor-prod", Registry: "harbor", RegistryHost: "harbor.example.com",
		Namespace: ns, Image: image, Tag: tag,
		Target:    scanjob.Target{Region: "cn-north-4", ProjectID: "p1", ImageType: scanjob.PrivateImage},
		RequestID: "req-1",
		PushedAt:  time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC),
	}
}

// openStore opens a store on its own connection to srv, as a replica
// would.
func openStore(t *testing.T, srv *natstest.Server) *Store {
	t.Helper()
	s, err := Open(t.Context(), srv.JetStream(), Config{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustCreate(t *testing.T, s *Store, j scanjob.Job) Record {
	t.Helper()
	r, err := s.Create(t.Context(), NewRecord(j))
	if err != nil {
		t.Fatalf("Create %s: %v", j.Ref(), err)
	}
	return r
}

func moveTo(t *testing.T, s *Store, key string, states ...State) Record {
	t.Helper()
	var r Record
	for _, st := range states {
		var err error
		r, err = s.Update(t.Context(), key, func(r *Record) error { r.SetState(st, "test"); return nil })
		if err != nil {
			t.Fatalf("Update %s → %s: %v", key, st, err)
		}
	}
	return r
}

func TestCreateGetAndExists(t *testing.T) {
	s := openStore(t, natstest.Start(t))
	j := testJob("team", "app", "v1")
	r := mustCreate(t, s, j)
	if r.Key != KeyOf(j) || r.State != Accepted || r.Generation != 1 || r.AcceptedAt.IsZero() || len(r.History) != 1 {
		t.Fatalf("created %+v", r)
	}
	got, rev, err := s.Get(t.Context(), r.Key)
	if err != nil || rev == 0 {
		t.Fatalf("Get: rev %d, %v", rev, err)
	}
	if got.JobID != j.ID() || got.RequestID != "req-1" || !got.PushedAt.Equal(j.PushedAt) {
		t.Fatalf("Get = %+v", got)
	}
	moveTo(t, s, r.Key, WaitingPresence)
	again, err := s.Create(t.Context(), NewRecord(j))
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	if again.State != WaitingPresence {
		t.Fatalf("second Create returned %s, want the stored record (waiting_presence)", again.State)
	}
	if _, _, err := s.Get(t.Context(), KeyOf(testJob("team", "app", "v2"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Get(t.Context(), "not a key"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of an invalid key: %v, want ErrNotFound", err)
	}
}

func TestUpdateStampsAndRefusesIllegalTransitions(t *testing.T) {
	s := openStore(t, natstest.Start(t))
	key := mustCreate(t, s, testJob("team", "app", "v1")).Key
	r := moveTo(t, s, key, WaitingPresence, SyncRequested, ScanRequested, Scanning)
	if r.SyncRequestedAt.IsZero() || r.ScanRequestedAt.IsZero() || r.ScanStartedAt.IsZero() || !r.FinishedAt.IsZero() {
		t.Fatalf("times not stamped: %+v", r)
	}
	if len(r.History) != 5 || r.History[4].State != Scanning || r.History[4].Note != "test" {
		t.Fatalf("history %+v", r.History)
	}

	tests := []struct {
		name     string
		from, to State
		legal    bool
	}{
		{"accepted to scanning skips the request", Accepted, Scanning, false},
		{"accepted to scanned skips the scan", Accepted, Scanned, false},
		{"waiting to scan_failed skips the scan", WaitingPresence, ScanFailed, false},
		{"scanned back to scanning", Scanned, Scanning, false},
		{"given_up to scan_requested", GivenUp, ScanRequested, false},
		{"scan_failed to waiting_presence", ScanFailed, WaitingPresence, false},
		{"an unknown state", Scanning, "done", false},
		{"scanning to scanned", Scanning, Scanned, true},
		{"scan_requested straight to scanned", ScanRequested, Scanned, true},
		{"HSS.0011 sends a requested scan back to presence", ScanRequested, WaitingPresence, true},
		{"a stalled scan is requested again", Scanning, ScanRequested, true},
		{"given_up restarted by a push", GivenUp, Accepted, true},
		{"any state may stay", Scanned, Scanned, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Allowed(tt.from, tt.to); got != tt.legal {
				t.Fatalf("Allowed(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.legal)
			}
		})
	}

	// Through the store: scanning → accepted is refused and changes nothing.
	_, rev, _ := s.Get(t.Context(), key)
	_, err := s.Update(t.Context(), key, func(r *Record) error { r.State = Accepted; return nil })
	var te *TransitionError
	if !errors.As(err, &te) || !errors.Is(err, ErrIllegalTransition) || te.From != Scanning || te.To != Accepted {
		t.Fatalf("Update scanning → accepted: %v", err)
	}
	if _, rev2, _ := s.Get(t.Context(), key); rev2 != rev {
		t.Fatalf("a refused update wrote: revision %d → %d", rev, rev2)
	}
	// A callback that changes nothing writes nothing.
	if _, err := s.Update(t.Context(), key, func(*Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, rev2, _ := s.Get(t.Context(), key); rev2 != rev {
		t.Fatalf("a no-op update wrote: revision %d → %d", rev, rev2)
	}
	// fn's error is returned as it is, with no write.
	errStop := errors.New("stop")
	if _, err := s.Update(t.Context(), key, func(r *Record) error { r.Reason = "x"; return errStop }); !errors.Is(err, errStop) {
		t.Fatalf("Update with a failing fn: %v", err)
	}

	r = moveTo(t, s, key, Scanned)
	if r.FinishedAt.IsZero() || r.Published {
		t.Fatalf("terminal record %+v", r)
	}
}

func TestBeginRestartsOnlyFinishedRecords(t *testing.T) {
	s := openStore(t, natstest.Start(t))
	j := testJob("team", "app", "v1")
	r, started, err := s.Begin(t.Context(), NewRecord(j))
	if err != nil || !started || r.Generation != 1 {
		t.Fatalf("first Begin: %+v %v %v", r, started, err)
	}
	moveTo(t, s, r.Key, ScanRequested)
	r, started, err = s.Begin(t.Context(), NewRecord(j))
	if err != nil || started || r.State != ScanRequested {
		t.Fatalf("Begin of a record in progress: state %s, started %v, %v", r.State, started, err)
	}
	_, err = s.Update(t.Context(), r.Key, func(r *Record) error {
		r.SetState(ScanFailed, "HSS failed")
		r.Reason, r.ScanAttempts = "unpack failed", 2
		r.HSS.Vulnerabilities = 3
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	j2 := j
	j2.RequestID = "req-2"
	r, started, err = s.Begin(t.Context(), NewRecord(j2))
	if err != nil || !started {
		t.Fatalf("Begin of a finished record: %v %v", started, err)
	}
	if r.State != Accepted || r.Generation != 2 || r.Reason != "" || r.ScanAttempts != 0 || r.HSS.Vulnerabilities != 0 ||
		!r.ScanRequestedAt.IsZero() || !r.FinishedAt.IsZero() || r.RequestID != "req-2" || len(r.History) != 4 {
		t.Fatalf("restarted record %+v", r)
	}
}

// TestCASOneReplicaWins: two stores on two connections (two replicas)
// both try to start the scan of one image; exactly one does, and
// concurrent counter updates lose nothing.
func TestCASOneReplicaWins(t *testing.T) {
	srv := natstest.Start(t)
	a, b := openStore(t, srv), openStore(t, srv)
	key := mustCreate(t, a, testJob("team", "app", "v1")).Key
	moveTo(t, a, key, ScanRequested)

	errTaken := errors.New("another replica started it")
	var wins, losses int
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, s := range []*Store{a, b, a, b} {
		wg.Go(func() {
			<-start
			_, err := s.Update(context.Background(), key, func(r *Record) error {
				if r.State != ScanRequested {
					return errTaken
				}
				r.SetState(Scanning, fmt.Sprintf("replica %d", i))
				r.ScanAttempts++
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, errTaken):
				losses++
			default:
				t.Errorf("Update: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 || losses != 3 {
		t.Fatalf("%d wins, %d losses; want exactly one replica to start the scan", wins, losses)
	}
	r, _, _ := a.Get(t.Context(), key)
	if r.ScanAttempts != 1 {
		t.Fatalf("ScanAttempts %d, want 1", r.ScanAttempts)
	}

	const n = 10
	for _, s := range []*Store{a, b} {
		wg.Go(func() {
			for range n {
				if _, err := s.Update(context.Background(), key, func(r *Record) error { r.PresenceChecks++; return nil }); err != nil {
					t.Errorf("Update: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if r, _, _ := b.Get(t.Context(), key); r.PresenceChecks != 2*n {
		t.Fatalf("PresenceChecks %d after %d increments from two replicas", r.PresenceChecks, 2*n)
	}
}

func TestRecordsSurviveRestart(t *testing.T) {
	srv := natstest.Start(t)
	s := openStore(t, srv)
	key := mustCreate(t, s, testJob("team", "app", "v1")).Key
	moveTo(t, s, key, ScanRequested)
	srv.Stop()
	srv.Restart()
	s2 := openStore(t, srv)
	r, _, err := s2.Get(t.Context(), key)
	if err != nil || r.State != ScanRequested {
		t.Fatalf("after restart: %+v, %v", r, err)
	}
	moveTo(t, s2, key, Scanning, Scanned)
}

func TestListPendingCounts(t *testing.T) {
	s := openStore(t, natstest.Start(t))
	base := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	add := func(ns, image, tag string, minute int, states ...State) string {
		j := testJob(ns, image, tag)
		j.AcceptedAt = base.Add(time.Duration(minute) * time.Minute)
		key := mustCreate(t, s, j).Key
		moveTo(t, s, key, states...)
		return key
	}
	add("team", "app", "v1", 5, ScanRequested, Scanning, Scanned)
	add("team", "app", "v2", 3, WaitingPresence)
	add("team", "lib/core", "1.0", 1, ScanRequested)
	add("other", "app", "v1", 2, GivenUp)
	add("other", "app.x", "v1", 4)

	tests := []struct {
		f    Filter
		want []string // refs, in order of last change
	}{
		{Filter{}, []string{"team/app:v1", "team/app:v2", "team/lib/core:1.0", "other/app:v1", "other/app.x:v1"}},
		{Filter{Namespace: "team"}, []string{"team/app:v1", "team/app:v2", "team/lib/core:1.0"}},
		{Filter{Namespace: "team", Image: "app"}, []string{"team/app:v1", "team/app:v2"}},
		{Filter{Image: "app", Tag: "v1"}, []string{"team/app:v1", "other/app:v1"}},
		{Filter{Image: "app.x"}, []string{"other/app.x:v1"}},
		{Filter{Namespace: "team", Image: "lib/core", Tag: "1.0"}, []string{"team/lib/core:1.0"}},
		{Filter{State: GivenUp}, []string{"other/app:v1"}},
		{Filter{Namespace: "team", State: Accepted}, nil},
		{Filter{Limit: 2}, []string{"team/app:v1", "team/app:v2"}},
		{Filter{Namespace: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.f), func(t *testing.T) {
			recs, err := s.List(t.Context(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, r.Ref())
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("List = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := s.List(t.Context(), Filter{State: "done"}); err == nil {
		t.Fatal("List with an unknown state: no error")
	}

	pending, err := s.Pending(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range pending {
		got = append(got, r.Ref())
	}
	if want := "[team/lib/core:1.0 team/app:v2 other/app.x:v1]"; fmt.Sprint(got) != want {
		t.Fatalf("Pending = %v, want %s (oldest first)", got, want)
	}
	if p, _ := s.Pending(t.Context(), 1); len(p) != 1 || p[0].Ref() != "team/lib/core:1.0" {
		t.Fatalf("Pending(1) = %v", p)
	}

	c, err := s.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[State]int{Accepted: 1, WaitingPresence: 1, SyncRequested: 0, ScanRequested: 1, Scanning: 0, Scanned: 1, ScanFailed: 0, GivenUp: 1}
	if fmt.Sprint(c.ByState) != fmt.Sprint(want) || !c.OldestPending.Equal(base.Add(time.Minute)) {
		t.Fatalf("Counts = %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"defaults are valid", Config{}, ""},
		{"a bucket with a dot", Config{Bucket: "a.b"}, "bucket"},
		{"too many replicas", Config{Replicas: 7}, "replicas 7"},
		{"a TTL under a second", Config{TerminalTTL: time.Millisecond}, "terminal_ttl"},
		{"a tiny bucket", Config{MaxBytes: 10}, "max_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.WithDefaults().Validate()
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestFinishedRecordsExpire: a terminal record carries the TerminalTTL
// and goes on its own; a record in progress stays.
func TestFinishedRecordsExpire(t *testing.T) {
	srv := natstest.Start(t)
	s, err := Open(t.Context(), srv.JetStream(), Config{TerminalTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := mustCreate(t, s, testJob("team", "app", "v1")).Key
	moveTo(t, s, done, ScanRequested, Scanned)
	waiting := mustCreate(t, s, testJob("team", "app", "v2")).Key
	moveTo(t, s, waiting, WaitingPresence)
	natstest.Eventually(t, 30*time.Second, "the finished record to expire", func() bool {
		_, _, err := s.Get(t.Context(), done)
		return errors.Is(err, ErrNotFound)
	})
	if r, _, err := s.Get(t.Context(), waiting); err != nil || r.State != WaitingPresence {
		t.Fatalf("record in progress after the TTL: %+v, %v", r, err)
	}
	// The key is free again: a new push creates it afresh.
	if r := mustCreate(t, s, testJob("team", "app", "v1")); r.Generation != 1 || r.State != Accepted {
		t.Fatalf("re-created %+v", r)
	}
	if recs, err := s.List(t.Context(), Filter{}); err != nil || len(recs) != 2 {
		t.Fatalf("List after expiry: %d records, %v", len(recs), err)
	}
}

func TestLongTextsAreClipped(t *testing.T) {
	s := openStore(t, natstest.Start(t))
	key := mustCreate(t, s, testJob("team", "app", "v1")).Key
	r, err := s.Update(t.Context(), key, func(r *Record) error {
		r.SetState(GivenUp, strings.Repeat("n", 5000))
		r.Reason = strings.Repeat("é", 5000)
		r.LastAnswer.Message = strings.Repeat("m", 1<<20)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Reason) > maxReason || len(r.LastAnswer.Message) > maxMessage || len(r.History[len(r.History)-1].Note) > maxNote ||
		!utf8.ValidString(r.Reason) {
		t.Fatalf("texts not clipped: reason %d, message %d bytes", len(r.Reason), len(r.LastAnswer.Message))
	}
}
