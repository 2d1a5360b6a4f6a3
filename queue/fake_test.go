package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// fakeMsg is an in-memory message that records what was done to it.
type fakeMsg struct {
	data []byte
	d    delivery

	mu         sync.Mutex
	ops        []string // settling operations in order: ack, nak, nak-delay, term
	delays     []time.Duration
	progress   int
	termReason string
}

func newFakeMsg(t *testing.T, job scanjob.Job, seq, delivered uint64) *fakeMsg {
	t.Helper()
	data, err := json.Marshal(job)
	if err != nil {
		t.Fatalf("encode job: %v", err)
	}
	return &fakeMsg{data: data, d: delivery{
		Subject: "scanjobs." + string(job.Target.ImageType) + "." + EscapeToken(job.Namespace),
		MsgID:   job.ID(), Stream: "SCANJOBS", StreamSeq: seq, NumDelivered: delivered,
		Stored: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}}
}

func (m *fakeMsg) Data() []byte       { return m.data }
func (m *fakeMsg) Delivery() delivery { return m.d }
func (m *fakeMsg) Ack() error         { return m.settle("ack", 0, "") }
func (m *fakeMsg) Nak() error         { return m.settle("nak", 0, "") }
func (m *fakeMsg) NakWithDelay(d time.Duration) error {
	return m.settle("nak-delay", d, "")
}
func (m *fakeMsg) TermWithReason(r string) error { return m.settle("term", 0, r) }
func (m *fakeMsg) InProgress() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.ops) > 0 {
		return errors.New("in progress after " + m.ops[0])
	}
	m.progress++
	return nil
}

func (m *fakeMsg) settle(op string, d time.Duration, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops = append(m.ops, op)
	if op == "nak-delay" {
		m.delays = append(m.delays, d)
	}
	if op == "term" {
		m.termReason = reason
	}
	return nil
}

// outcome is the one settling operation, "" if none, or "twice: ..." if the
// message was settled more than once (always a bug).
func (m *fakeMsg) outcome() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch len(m.ops) {
	case 0:
		return ""
	case 1:
		return m.ops[0]
	}
	return fmt.Sprintf("twice: %v", m.ops)
}

func (m *fakeMsg) progressCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.progress
}

// fakeCall is one recorded Scan.
type fakeCall struct {
	target scanjob.Target
	items  []scanjob.Job
}

func (c fakeCall) namespaces() []string {
	var out []string
	for _, j := range c.items {
		if len(out) == 0 || out[len(out)-1] != j.Namespace {
			out = append(out, j.Namespace)
		}
	}
	return out
}

// verdictError is an error carrying the Verdict the fake Judge returns.
type verdictError struct{ v Verdict }

func (e *verdictError) Error() string { return fmt.Sprintf("hss said %d %s", e.v.Status, e.v.Code) }

// fakeScanner records calls, answers with scripted errors and, when gate is
// set, hands out one permit per value sent on gate.
type fakeScanner struct {
	gate chan struct{}
	// scan scripts the outcome of a call; nil accepts everything.
	scan func(ctx context.Context, target scanjob.Target, items []scanjob.Job) error

	mu       sync.Mutex
	calls    []fakeCall
	acquired int
	released int
}

func (s *fakeScanner) Acquire(ctx context.Context) (func(), error) {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	s.acquired++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.released++
			s.mu.Unlock()
		})
	}, nil
}

func (s *fakeScanner) Scan(ctx context.Context, target scanjob.Target, items []scanjob.Job) error {
	s.mu.Lock()
	s.calls = append(s.calls, fakeCall{target: target, items: append([]scanjob.Job(nil), items...)})
	s.mu.Unlock()
	if s.scan != nil {
		return s.scan(ctx, target, items)
	}
	return nil
}

func (s *fakeScanner) Judge(err error) Verdict {
	if ve, ok := errors.AsType[*verdictError](err); ok {
		return ve.v
	}
	return Verdict{Class: Retry}
}

func (s *fakeScanner) recorded() []fakeCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fakeCall(nil), s.calls...)
}

func (s *fakeScanner) permits() (acquired, released int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acquired, s.released
}

// fakeDLQ records dead letters; fail, when set, makes every write fail.
type fakeDLQ struct {
	mu      sync.Mutex
	records []DeadLetter
	fail    error
}

func (d *fakeDLQ) deadLetter(_ context.Context, rec DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return d.fail
	}
	d.records = append(d.records, rec)
	return nil
}

func (d *fakeDLQ) all() []DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]DeadLetter(nil), d.records...)
}

var (
	targetA = scanjob.Target{Region: "cn-north-4", ProjectID: "project-a", ImageType: scanjob.PrivateImage}
	targetB = scanjob.Target{Region: "ap-southeast-1", ProjectID: "project-b", ImageType: scanjob.PrivateImage}
	// testTargets allows the targets the tests' jobs name.
	testTargets = AllowTargets(targetA, targetB)
)

func testJob(target scanjob.Target, namespace, image, tag string) scanjob.Job {
	return scanjob.Job{
		Receiver: "harbor-prod", Registry: "harbor", Namespace: namespace, Image: image, Tag: tag,
		Target: target, AcceptedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// testLogger writes through t.Log so failures show the batcher's story.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// fakeAccepted is an in-memory accepted set with no window (tests run
// within one). seenErr makes Seen fail without answering anything;
// recordErr makes Record fail and store nothing; onRecord, when set, runs
// at the start of each Record.
type fakeAccepted struct {
	mu        sync.Mutex
	ids       map[string]bool
	records   [][]string // ids of each Record call, in order
	lookups   int        // Seen calls
	seenErr   error
	recordErr error
	onRecord  func(ids []string)
}

func newFakeAccepted(ids ...string) *fakeAccepted {
	a := &fakeAccepted{ids: map[string]bool{}}
	for _, id := range ids {
		a.ids[id] = true
	}
	return a
}

func (a *fakeAccepted) Seen(_ context.Context, ids []string) (map[string]bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lookups++
	if a.seenErr != nil {
		return nil, a.seenErr
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = a.ids[id]
	}
	return seen, nil
}

func (a *fakeAccepted) Record(_ context.Context, ids []string) error {
	a.mu.Lock()
	hook := a.onRecord
	a.mu.Unlock()
	if hook != nil {
		hook(ids)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.records = append(a.records, append([]string(nil), ids...))
	if a.recordErr != nil {
		return a.recordErr
	}
	for _, id := range ids {
		a.ids[id] = true
	}
	return nil
}

func (a *fakeAccepted) set(f func(a *fakeAccepted)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a)
}

// recorded is every id recorded, sorted.
func (a *fakeAccepted) recorded() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, r := range a.records {
		out = append(out, r...)
	}
	slices.Sort(out)
	return out
}

func (a *fakeAccepted) lookupCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lookups
}
