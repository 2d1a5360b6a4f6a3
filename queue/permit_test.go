package queue

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// permitScanner is fakeScanner as a PermitScanner: each permit records
// whether the Scan made under it saw it in its ctx, and is released once.
type permitScanner struct {
	*fakeScanner
	mu      sync.Mutex
	permits []*fakePermit
}

type fakePermit struct {
	mu       sync.Mutex
	scanned  int // Scans that found this permit in their ctx
	released int
}

func (p *fakePermit) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.released++
}

func (s *permitScanner) AcquirePermit(ctx context.Context) (Permit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &fakePermit{}
	s.mu.Lock()
	s.permits = append(s.permits, p)
	s.mu.Unlock()
	return p, nil
}

func (s *permitScanner) Acquire(context.Context) (func(), error) {
	panic("a PermitScanner's permits are taken with AcquirePermit")
}

func (s *permitScanner) Scan(ctx context.Context, target scanjob.Target, items []scanjob.Job) error {
	if p, ok := PermitFrom(ctx).(*fakePermit); ok {
		p.mu.Lock()
		p.scanned++
		p.mu.Unlock()
	}
	return s.fakeScanner.Scan(ctx, target, items)
}

// The consumer hands each Scan the permit it runs under and releases every
// permit once, so a Scanner can give back the permit of a Scan that made
// no HSS call.
func TestThePermitTravelsWithItsScan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &permitScanner{fakeScanner: &fakeScanner{}}
		cfg := testConfig()
		cfg.Packing = PackReady
		b := newBatcher(cfg, s, testTargets, &fakeDLQ{}, newFakeAccepted(), NewMetrics(nil), testLogger(t))
		b.rand = func() float64 { return 0 }
		h := &harness{t: t, b: b, scanner: s.fakeScanner, done: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			defer close(h.done)
			b.run(ctx)
		}()
		msgs := []*fakeMsg{
			h.send(testJob(targetA, "team", "api", "1")),
			h.send(testJob(targetA, "team", "api", "2")),
			h.send(testJob(targetA, "team", "web", "1")),
			h.send(testJob(targetA, "other", "api", "1")),
		}
		for synctest.Wait(); len(s.recorded()) < 2; synctest.Wait() {
			time.Sleep(time.Second)
		}
		b.closeInput()
		<-h.done
		wantOutcome(t, "ack", msgs...)
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.permits) < len(s.recorded()) {
			t.Fatalf("%d permits for %d scans", len(s.permits), len(s.recorded()))
		}
		scanned := 0
		for i, p := range s.permits {
			if p.released != 1 || p.scanned > 1 {
				t.Errorf("permit %d: released %d times, seen by %d scans; want once and at most one", i, p.released, p.scanned)
			}
			scanned += p.scanned
		}
		if scanned != len(s.recorded()) {
			t.Errorf("%d scans saw their permit, want all %d", scanned, len(s.recorded()))
		}
	})
}
