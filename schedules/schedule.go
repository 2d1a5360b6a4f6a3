package schedules

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/robfig/cron/v3"

	"github.com/scan-bridge/scan-bridge/hssclient"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// FullScanner sends one batch-scan under the bridge's quota:
// scanner.HSS.Send, which takes the batch-scan permit from the same quota
// scheduler (and, with hss.shared_limit, the same shared limiter) as the
// consumer's scans.
type FullScanner interface {
	Send(ctx context.Context, t hssclient.Target, req hssclient.BatchScanRequest) error
}

// Records reads every lifecycle record once: lifecycle.Store.Each.
type Records interface {
	Each(ctx context.Context, fn func(lifecycle.Record) bool) error
}

// Resender stores a job in the job stream under a message id of the
// caller's choosing: scanner.JobStream.
type Resender interface {
	Resend(ctx context.Context, job scanjob.Job, msgID string) error
}

// Deps are what a schedule runs with. Scanner is needed by full_scan,
// Records and Resender by rescan_older_than.
type Deps struct {
	KV       jetstream.KeyValue
	Scanner  FullScanner
	Records  Records
	Resender Resender
	Metrics  *Metrics
	Logger   *slog.Logger
	// Replica names this replica in claims and last runs.
	Replica string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Recheck is how often a schedule with catch_up looks for a run of
	// its latest fire that did not end (Schedule.resume); default
	// DefaultRecheck. Tests shorten it.
	Recheck time.Duration
}

// DefaultRecheck is how often a schedule with catch_up reads its last run
// while it waits for its next fire: one KV read a minute per schedule
// and replica.
const DefaultRecheck = time.Minute

// Clock is a schedule's fire times: its cron expression in its zone.
type Clock struct {
	cron cron.Schedule
	loc  *time.Location
}

// NewClock parses the cron and timezone settings of c.
func NewClock(c Config) (Clock, error) {
	sched, err := ParseCron(c.Cron)
	if err != nil {
		return Clock{}, fmt.Errorf("schedule %q: cron %q: %w", c.Name, c.Cron, err)
	}
	loc, err := loadLocation(c.WithDefaults().Timezone)
	if err != nil {
		return Clock{}, fmt.Errorf("schedule %q: timezone %q: %w", c.Name, c.Timezone, err)
	}
	return Clock{cron: sched, loc: loc}, nil
}

// Schedule is one configured schedule, ready to run.
type Schedule struct {
	Clock
	cfg   Config
	d     Deps
	log   *slog.Logger
	limit int
}

// New checks c (defaults filled; the full scan's target already filled
// from the hss defaults) and returns its schedule.
func New(c Config, d Deps) (*Schedule, error) {
	c = c.WithDefaults()
	if errs := c.Check(); len(errs) > 0 {
		return nil, fmt.Errorf("schedule %q: %w", c.Name, errors.Join(errs...))
	}
	clock, err := NewClock(c)
	if err != nil {
		return nil, err
	}
	if d.KV == nil {
		return nil, fmt.Errorf("schedule %q: no KV bucket", c.Name)
	}
	switch {
	case c.Action == ActionFullScan && d.Scanner == nil:
		return nil, fmt.Errorf("schedule %q: full_scan without a scanner", c.Name)
	case c.Action == ActionRescanOlderThan && (d.Records == nil || d.Resender == nil):
		return nil, fmt.Errorf("schedule %q: rescan_older_than without the lifecycle records or the job stream", c.Name)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Schedule{Clock: clock, cfg: c, d: d, limit: min(cmp.Or(c.Rescan.Limit, DefaultRescanLimit), MaxRescanLimit),
		log: d.Logger.With("component", "schedules", "schedule", c.Name)}, nil
}

// Config is the schedule's configuration, defaults filled.
func (s *Schedule) Config() Config { return s.cfg }

// Next is the first fire after t.
func (c Clock) Next(t time.Time) time.Time { return c.cron.Next(t.In(c.loc)) }

// lateGrace is how late a replica may still run a fire on time: its
// timer fired late (a paused process, a busy machine).
const lateGrace = time.Minute

// maxPrevSteps bounds the search for the latest fire not after a time.
const maxPrevSteps = 1 << 20

// Prev is the latest fire not after t; zero when there is none in the
// five years before t.
func (c Clock) Prev(t time.Time) time.Time {
	for _, back := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour, 5 * 366 * 24 * time.Hour} {
		f := c.Next(t.Add(-back))
		if f.IsZero() || f.After(t) {
			continue
		}
		for range maxPrevSteps {
			n := c.Next(f)
			if n.IsZero() || n.After(t) {
				return f
			}
			f = n
		}
		return f
	}
	return time.Time{}
}

// Run fires the schedule until ctx is done: at each fire time, the
// replica that claims the fire first runs it. With catch_up it first runs
// the latest fire missed since the last recorded run, and after a run
// that overran the next fires, the latest of them.
func (s *Schedule) Run(ctx context.Context) {
	now := s.d.Now()
	if lr, ok, err := ReadLastRun(ctx, s.d.KV, s.cfg.Name); err != nil {
		s.log.Warn("read the last run", "error", err)
	} else if ok {
		s.d.Metrics.lastRun(s.cfg.Name, lr)
		if p := s.Prev(now); s.cfg.CatchUp && catchUp(p, lr) {
			s.log.Info("catching up a fire missed while no replica ran", "fire", p, "last_fire", lr.Fire)
			s.fire(ctx, p)
		}
	}
	var recheck <-chan time.Time
	if s.cfg.CatchUp {
		tk := time.NewTicker(cmp.Or(s.d.Recheck, DefaultRecheck))
		defer tk.Stop()
		recheck = tk.C
	}
	next := s.Next(s.d.Now())
	for !next.IsZero() {
		t := time.NewTimer(next.Sub(s.d.Now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-recheck:
			t.Stop()
			s.resume(ctx)
			continue
		case <-t.C:
		}
		if late := s.d.Now().Sub(next); late > lateGrace && !s.cfg.CatchUp {
			s.log.Warn("fire missed: this replica woke too late to run it (catch_up is off)", "fire", next, "late", late.String())
			s.d.Metrics.run(s.cfg.Name, ResultMissed)
		} else {
			s.fire(ctx, next)
		}
		now := s.d.Now()
		after := s.Next(next)
		switch {
		case after.IsZero() || after.After(now):
			next = after
		case s.cfg.CatchUp:
			next = s.Prev(now) // overran: the latest missed fire, at once
		default:
			s.log.Warn("fires missed while the last run went on (catch_up is off)", "from", after, "until", now)
			s.d.Metrics.run(s.cfg.Name, ResultMissed)
			next = s.Next(now)
		}
	}
}

// resume runs the latest fire again when its run did not end and no
// replica is starting to catch it up (a scale-down, a node lost): the run
// is recorded as interrupted (its replica stopped and gave the claim
// back) or still running after longer than any run lasts (its replica was
// killed: Fire takes the stale claim over). A fire older than the latest
// is left alone: the latest supersedes it, as in a catch-up.
func (s *Schedule) resume(ctx context.Context) {
	lr, ok, err := ReadLastRun(ctx, s.d.KV, s.cfg.Name)
	if err != nil || !ok || !lr.Fire.Equal(s.Prev(s.d.Now())) {
		return
	}
	switch {
	case lr.Result == ResultInterrupted:
	case lr.Result == ResultRunning && s.d.Now().Sub(lr.Started) > s.staleClaim():
	default:
		return
	}
	s.log.Info("running again the latest fire, whose run did not end", "fire", lr.Fire, "result", lr.Result, "replica", lr.Replica)
	s.fire(ctx, lr.Fire)
}

// fire runs Fire and logs what the loop cannot return.
func (s *Schedule) fire(ctx context.Context, fire time.Time) {
	if _, _, err := s.Fire(ctx, fire); err != nil && ctx.Err() == nil {
		s.log.Warn("scheduled run", "fire", fire, "error", err)
	}
}

// Fire claims the fire at fire and, when this replica won the claim,
// runs it and records the run. ran is false when another replica had
// claimed it. Tests call it for a given fire time instead of waiting.
//
// A run that ctx cuts off (a shutdown) is recorded as interrupted and its
// claim given back, so that the next catch-up runs the fire again instead
// of finding it claimed by a replica that is gone.
func (s *Schedule) Fire(ctx context.Context, fire time.Time) (lr LastRun, ran bool, err error) {
	claimedAt := s.d.Now()
	rev, won, err := claimFire(ctx, s.d.KV, s.cfg.Name, fire, s.d.Replica, claimedAt, s.staleClaim())
	if err != nil {
		if ctx.Err() != nil {
			// The claim may have reached the server and its answer not us.
			gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
			r, ok := ownClaim(gctx, s.d.KV, s.cfg.Name, fire, s.d.Replica, claimedAt)
			cancel()
			if ok {
				s.release(ctx, fire, r)
			}
			return LastRun{}, false, err
		}
		s.d.Metrics.run(s.cfg.Name, ResultFailed)
		return LastRun{}, false, err
	}
	if !won {
		s.log.Debug("fire claimed by another replica", "fire", fire)
		return LastRun{}, false, nil
	}
	lr = LastRun{Schedule: s.cfg.Name, Action: s.cfg.Action, Fire: fire.UTC(), Replica: s.d.Replica,
		Started: s.d.Now().UTC(), Result: ResultRunning}
	if err := writeLast(ctx, s.d.KV, lr); err != nil {
		s.log.Warn("record the run's start", "error", err)
	}
	s.log.Info("scheduled run started", "action", s.cfg.Action, "fire", fire)
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	switch s.cfg.Action {
	case ActionFullScan:
		err = s.fullScan(rctx)
	case ActionRescanOlderThan:
		err = s.rescan(rctx, fire, &lr)
	}
	cancel()
	lr.Finished, lr.Result = s.d.Now().UTC(), ResultOK
	switch {
	case err != nil && ctx.Err() != nil:
		lr.Result, lr.Error = ResultInterrupted, err.Error()
	case err != nil:
		lr.Result, lr.Error = ResultFailed, err.Error()
	}
	s.d.Metrics.run(s.cfg.Name, lr.Result)
	if lr.Result == ResultOK {
		s.d.Metrics.lastRun(s.cfg.Name, lr)
	}
	// Recorded even when ctx ended (shutdown): the run is over.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	if werr := writeLast(wctx, s.d.KV, lr); werr != nil {
		s.log.Warn("record the run", "error", werr)
	}
	wcancel()
	if lr.Result == ResultInterrupted {
		s.release(ctx, fire, rev)
	}
	attrs := []any{"action", s.cfg.Action, "fire", fire, "result", lr.Result, "duration", lr.Finished.Sub(lr.Started).String()}
	if s.cfg.Action == ActionRescanOlderThan {
		attrs = append(attrs, "found", lr.Found, "sent", lr.Sent, "failed", lr.Failed)
	}
	if err != nil {
		s.log.Warn("scheduled run failed", append(attrs, "error", err)...)
	} else {
		s.log.Info("scheduled run finished", attrs...)
	}
	return lr, true, err
}

// recordTimeout bounds the writes a run makes after ctx ended.
const recordTimeout = 5 * time.Second

// staleClaim is the age past which a claim is taken over: no run of this
// schedule lasts longer (Timeout bounds it; a minute covers the records).
func (s *Schedule) staleClaim() time.Duration { return s.cfg.Timeout + lateGrace }

// release gives the fire's claim back after ctx ended.
func (s *Schedule) release(ctx context.Context, fire time.Time, rev uint64) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := releaseClaim(rctx, s.d.KV, s.cfg.Name, fire, rev); err != nil {
		s.log.Warn("give the interrupted fire's claim back (a catch-up takes it over when it is stale)", "fire", fire, "error", err)
		return
	}
	s.log.Info("scheduled run interrupted: its claim is given back for a catch-up", "fire", fire)
}

// catchUp reports whether the latest fire p, missed since the last run
// lr, is to run now: it is later than lr's, or it is lr's and that run
// did not end (interrupted by a shutdown, or still "running": its replica
// died; the claim decides whether it is still under way).
func catchUp(p time.Time, lr LastRun) bool {
	if p.After(lr.Fire) {
		return true
	}
	return p.Equal(lr.Fire) && (lr.Result == ResultInterrupted || lr.Result == ResultRunning)
}

// Request is the full scan's batch-scan request.
func (c Config) Request() hssclient.BatchScanRequest {
	f := c.FullScan
	r := hssclient.FullScan(hssclient.ImageType(f.Target.ImageType))
	r.Namespace, r.ImageName, r.ImageVersion = f.Namespace, f.ImageName, f.ImageVersion
	r.ScanStatus = hssclient.ScanStatus(f.ScanStatus)
	if f.LatestVersion {
		r.LatestVersion = &f.LatestVersion
	}
	if f.ImageSize > 0 {
		r.ImageSize = &f.ImageSize
	}
	return r
}

// fullScan sends the one operate_all batch-scan; the scanner waits for
// the permit.
func (s *Schedule) fullScan(ctx context.Context) error {
	t := s.cfg.FullScan.Target
	target := hssclient.Target{Region: t.Region, ProjectID: t.ProjectID, EnterpriseProjectID: t.EnterpriseProjectID}
	req := s.cfg.Request()
	if err := target.Validate(); err != nil {
		return fmt.Errorf("full scan target: %w", err)
	}
	if err := req.Validate(); err != nil {
		return fmt.Errorf("full scan request: %w", err)
	}
	if err := s.d.Scanner.Send(ctx, target, req); err != nil {
		return fmt.Errorf("full scan: %w", err)
	}
	return nil
}

// RescanMsgID is the message id of a job a schedule sends again for the
// fire at fire: one per image and fire, so a second replica or a retry of
// the same fire stores it once (within the job stream's duplicate
// window), while the next fire's is new.
func RescanMsgID(jobID string, fire time.Time) string {
	return fmt.Sprintf("%s-sched-%d", jobID, fire.Unix())
}

// candidate is a record selected for a rescan and when it was last
// scanned.
type candidate struct {
	rec     lifecycle.Record
	scanned time.Time
}

// newest is a max-heap on scanned: the kept candidates, the newest scan
// on top, dropped first when a run selects more than its limit.
type newest []candidate

func (h newest) Len() int           { return len(h) }
func (h newest) Less(i, j int) bool { return h[i].scanned.After(h[j].scanned) }
func (h newest) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *newest) Push(x any)        { *h = append(*h, x.(candidate)) }
func (h *newest) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// lastScan is when r's last scan finished: HSS's latest_scan_time, else
// when the record finished. Zero for a record in progress, given up, or
// never finished: those are not rescanned.
func lastScan(r lifecycle.Record) time.Time {
	if r.State != lifecycle.Scanned && r.State != lifecycle.ScanFailed {
		return time.Time{}
	}
	return cmp.Or(r.HSS.ScannedAt, r.FinishedAt)
}

// matchNamespace reports whether ns matches one of the globs (or there
// is none).
func (s *Schedule) matchNamespace(ns string) bool {
	if len(s.cfg.Rescan.Namespaces) == 0 {
		return true
	}
	for _, g := range s.cfg.Rescan.Namespaces {
		if ok, _ := path.Match(g, ns); ok {
			return true
		}
	}
	return false
}

// Select reads the records once and returns those whose last scan is
// before cutoff, in the schedule's namespaces: at most the limit, the
// oldest scans first.
func (s *Schedule) Select(ctx context.Context, cutoff time.Time) ([]lifecycle.Record, error) {
	h := &newest{}
	err := s.d.Records.Each(ctx, func(r lifecycle.Record) bool {
		at := lastScan(r)
		if at.IsZero() || !at.Before(cutoff) || !s.matchNamespace(r.Namespace) {
			return true
		}
		switch {
		case h.Len() < s.limit:
			heap.Push(h, candidate{rec: r, scanned: at})
		case at.Before((*h)[0].scanned):
			(*h)[0] = candidate{rec: r, scanned: at}
			heap.Fix(h, 0)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("read lifecycle records: %w", err)
	}
	out := make([]lifecycle.Record, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(candidate).rec
	}
	return out, nil
}

// maxFailures ends a rescan after this many jobs in a row could not be
// stored: the job stream is out of reach, and the rest would fail too.
const maxFailures = 20

// rescan sends the job of each selected record again.
func (s *Schedule) rescan(ctx context.Context, fire time.Time, lr *LastRun) error {
	cutoff := fire.Add(-s.cfg.Rescan.Age)
	recs, err := s.Select(ctx, cutoff)
	if err != nil {
		return err
	}
	lr.Found = len(recs)
	reqID := fmt.Sprintf("schedule-%s-%d", s.cfg.Name, fire.Unix())
	inARow := 0
	for _, r := range recs {
		job := r.Job()
		id := cmp.Or(r.JobID, job.ID())
		// A new lifecycle of the image: it counts from now (presence
		// timeouts, latency), and its record names the schedule.
		job.AcceptedAt, job.RequestID = s.d.Now().UTC(), reqID
		job = scheduleLane(job)
		if err := s.d.Resender.Resend(ctx, job, RescanMsgID(id, fire)); err != nil {
			lr.Failed++
			inARow++
			s.log.Warn("send job again", "image", r.Ref(), "job_id", id, "error", err)
			if inARow >= maxFailures || ctx.Err() != nil {
				return fmt.Errorf("%d of %d jobs stored, then %d failed in a row: %w", lr.Sent, len(recs), inARow, err)
			}
			continue
		}
		inARow = 0
		lr.Sent++
		s.d.Metrics.sent(s.cfg.Name)
	}
	if lr.Failed > 0 {
		return fmt.Errorf("%d of %d jobs could not be stored", lr.Failed, len(recs))
	}
	return nil
}
