package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/handlers/formats"
	"github.com/scan-bridge/scan-bridge/lifecycle"
	"github.com/scan-bridge/scan-bridge/scanjob"
)

// Planner runs polled pushes through the webhook path's normalize, route
// and validate (handlers.Server.PlanPolled).
type Planner interface {
	PlanPolled(as string, rc handlers.ReceiverConfig, registry string, pushes []formats.Push) (handlers.Explanation, error)
}

// Publisher stores a job as a webhook's is stored (handlers.Publisher;
// cmd/bridge passes the queue's).
type Publisher interface {
	Publish(ctx context.Context, job scanjob.Job) (duplicate bool, err error)
}

// Known tells whether the bridge already has a lifecycle record of an
// image (lifecycle.Store).
type Known interface {
	Get(ctx context.Context, key string) (lifecycle.Record, uint64, error)
}

// Lease runs fn while this replica holds the source's lease
// (scanner.Lease).
type Lease interface {
	Run(ctx context.Context, fn func(ctx context.Context))
}

// Deps are a poller's collaborators.
type Deps struct {
	// KV is the sources bucket (OpenBucket); nil only for a dry run
	// where no bridge ever ran (every tag is then new).
	KV        jetstream.KeyValue
	Planner   Planner
	Publisher Publisher
	// Known, when set, is asked before a sweep counts an image: a record
	// means the webhook announced it before the stream's duplicate
	// window.
	Known   Known
	Metrics *Metrics
	Logger  *slog.Logger
	// Transport replaces the HTTP transport (tests).
	Transport http.RoundTripper
}

// publishTimeout bounds the wait for one job's store, as
// http.publish_timeout bounds a webhook's.
const publishTimeout = 10 * time.Second

// Results of a round (scanbridge_source_rounds_total's result label).
const (
	ResultOK = "ok"
	// ResultPartial: the round stopped at a limit (time, repositories) or
	// some repositories or tags failed; the next round goes on.
	ResultPartial = "partial"
	ResultError   = "error"
)

// Poller polls one source.
type Poller struct {
	cfg Config
	d   Deps
	reg registry
	rt  http.RoundTripper
	// swrLimit paces a kind swr source's calls across its rounds.
	swrLimit *rate.Limiter
	log      *slog.Logger
	rounds   atomic.Int64
	// mu makes one round at a time in this process.
	mu sync.Mutex
}

// New checks cfg (with defaults filled) and returns its poller.
func New(cfg Config, d Deps) (*Poller, error) {
	cfg = cfg.WithDefaults()
	if errs := cfg.Check(); len(errs) > 0 {
		return nil, fmt.Errorf("source %q: %w", cfg.Name, errors.Join(errs...))
	}
	p := &Poller{cfg: cfg, d: d}
	if cfg.Kind == KindSWR {
		p.swrLimit = swrLimiter(cfg)
	} else {
		reg, err := newRegistry(cfg)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", cfg.Name, err)
		}
		rt, err := httpTransport(cfg, d.Transport, reg.https)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", cfg.Name, err)
		}
		p.reg, p.rt = reg, rt
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	d.Metrics.every(cfg.Name, cfg.Schedule.Every)
	p.d, p.log = d, d.Logger.With("source", cfg.Name)
	return p, nil
}

// Config is the source's configuration, defaults filled.
func (p *Poller) Config() Config { return p.cfg }

// Rounds counts the rounds this poller ran (tests, status).
func (p *Poller) Rounds() int64 { return p.rounds.Load() }

// registryLabel is stored as the jobs' Registry: the kind, marked as
// polled.
func (p *Poller) registryLabel() string { return p.cfg.Kind + "-poll" }

// Report is what one round did (or, dry, would do).
type Report struct {
	Source       string     `json:"source"`
	DryRun       bool       `json:"dry_run,omitempty"`
	Started      time.Time  `json:"started"`
	Finished     time.Time  `json:"finished"`
	Result       string     `json:"result"`
	Error        string     `json:"error,omitempty"`
	Repositories int        `json:"repositories"`
	Tags         int        `json:"tags"`
	Jobs         []JobLine  `json:"jobs"`
	Skipped      []SkipLine `json:"skipped,omitempty"`
	Invalid      []string   `json:"invalid,omitempty"`
	Failed       []string   `json:"failed,omitempty"`
	// Found counts the sweep's jobs no webhook announced.
	Found  int    `json:"found"`
	Resume string `json:"resume,omitempty"`
}

// JobLine is one job a round enqueued (or would).
type JobLine struct {
	ID        string `json:"id"`
	Image     string `json:"image"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Found: a sweep's job that no webhook announced.
	Found bool `json:"found,omitempty"`
}

// SkipLine is a changed tag that became no job, and why.
type SkipLine struct {
	Ref    string `json:"ref"`
	Reason string `json:"reason"`
}

// Run polls every schedule.every while this replica holds the lease,
// until ctx is done. A replica that takes the lease over waits for the
// interval since the last round any replica ran, so a lease that moves
// does not make an extra round.
func (p *Poller) Run(ctx context.Context, lease Lease) {
	lease.Run(ctx, func(ctx context.Context) {
		var mine time.Time // this replica's last round, should its record be lost
		for {
			last, err := ReadRound(ctx, p.d.KV, p.cfg.Name)
			if err != nil {
				// The bucket does not answer: wait an interval rather
				// than poll on blindly.
				last.Started = time.Now()
			}
			if mine.After(last.Started) {
				last.Started = mine
			}
			wait := time.Until(last.Started.Add(p.cfg.Schedule.Every))
			if last.Started.IsZero() {
				wait = 0
			}
			if wait > 0 {
				t := time.NewTimer(min(wait, p.cfg.Schedule.Every))
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			if ctx.Err() != nil {
				return
			}
			mine = time.Now()
			if _, err := p.Round(ctx, false); err != nil && ctx.Err() == nil {
				p.log.Warn("source round failed", "error", err)
			}
		}
	})
}

// Round runs one round now: list repositories (paged, from where the last
// round stopped), list each one's tags, HEAD each tag's manifest, and
// turn every tag whose digest is new or changed into a job through the
// webhook path. Dry, it stores nothing (no job, no checkpoint, no
// record) and reports what it would enqueue.
func (p *Poller) Round(ctx context.Context, dryRun bool) (rep Report, err error) {
	if !dryRun && (p.d.KV == nil || p.d.Publisher == nil) {
		return Report{}, errors.New("a round that stores needs the sources bucket and a publisher")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rep = Report{Source: p.cfg.Name, DryRun: dryRun, Started: time.Now().UTC(), Jobs: []JobLine{}}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Limits.RoundTimeout)
	defer cancel()
	last, err := ReadRound(ctx, p.d.KV, p.cfg.Name)
	if err != nil {
		return p.finish(ctx, rep, last, err, dryRun)
	}
	l, err := p.newLister(ctx)
	if err != nil {
		return p.finish(ctx, rep, last, err, dryRun)
	}
	repos, resume, err := l.repositories(ctx, last.Resume)
	if err != nil {
		return p.finish(ctx, rep, last, err, dryRun)
	}
	rep.Resume = resume
	sweepCounts := p.cfg.SweepFor != "" && !last.Baseline.IsZero()
	var failures int
	for i, repo := range repos {
		if ctx.Err() != nil {
			// Out of time: the next round goes on after the last
			// repository done.
			if i > 0 {
				rep.Resume = repos[i-1].name
			} else {
				rep.Resume = last.Resume
			}
			failures++
			break
		}
		if err := p.pollRepository(ctx, l, repo, dryRun, sweepCounts, &rep); err != nil {
			failures++
			rep.Failed = append(rep.Failed, fmt.Sprintf("%s: %v", repo.name, err))
			p.log.Warn("source repository failed", "repository", repo.name, "error", err)
		}
		rep.Repositories++
	}
	if failures > 0 || len(rep.Failed) > 0 || rep.Resume != "" {
		return p.finish(ctx, rep, last, errPartial, dryRun)
	}
	return p.finish(ctx, rep, last, nil, dryRun)
}

// errPartial marks a round that did part of its work.
var errPartial = errors.New("partial round")

// finish records the round (not when dry) and its metrics.
func (p *Poller) finish(ctx context.Context, rep Report, last RoundRecord, err error, dryRun bool) (Report, error) {
	rep.Finished = time.Now().UTC()
	switch {
	case err == nil:
		rep.Result = ResultOK
	case errors.Is(err, errPartial):
		rep.Result = ResultPartial
		switch {
		case len(rep.Failed) > 0:
			rep.Error = fmt.Sprintf("%d repositories failed", len(rep.Failed))
		case ctx.Err() != nil:
			rep.Error = "stopped at limits.round_timeout"
		default:
			rep.Error = "stopped at limits.max_repositories"
		}
		err = nil
	default:
		rep.Result, rep.Error = ResultError, err.Error()
	}
	p.rounds.Add(1)
	if dryRun || p.d.KV == nil {
		return rep, err
	}
	p.d.Metrics.round(p.cfg.Name, rep.Result)
	rec := RoundRecord{Started: rep.Started, Finished: rep.Finished, Result: rep.Result, Error: rep.Error,
		LastSuccess: last.LastSuccess, Repositories: rep.Repositories, Tags: rep.Tags, Enqueued: len(rep.Jobs),
		Found: rep.Found, Resume: rep.Resume, Baseline: last.Baseline}
	if rep.Result != ResultError {
		rec.LastSuccess = rep.Finished
		p.d.Metrics.success(p.cfg.Name, rep.Finished)
		if rec.Baseline.IsZero() && rep.Resume == "" && rep.Result == ResultOK {
			rec.Baseline = rep.Finished
		}
	} else {
		rec.Resume = last.Resume
	}
	b, _ := json.Marshal(rec)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, perr := p.d.KV.Put(wctx, roundKey(p.cfg.Name), b); perr != nil {
		p.log.Warn("source round not recorded", "error", perr)
	}
	p.log.Info("source round", "result", rep.Result, "repositories", rep.Repositories, "tags", rep.Tags,
		"enqueued", len(rep.Jobs), "found", rep.Found, "resume", rep.Resume, "error", rep.Error)
	return rep, err
}

// literalIncludes are the includes when every one is a plain name.
func (p *Poller) literalIncludes() ([]string, bool) {
	inc := p.cfg.Repositories.Include
	if len(inc) == 0 {
		return nil, false
	}
	for _, g := range inc {
		if strings.ContainsAny(g, `*?[\`) {
			return nil, false
		}
	}
	out := slices.Clone(inc)
	slices.Sort(out)
	return slices.Compact(out), true
}

// selected applies the repository globs.
func (p *Poller) selected(repo string) bool { return selectedBy(p.cfg.Repositories, repo) }

// selectedBy reports whether name matches an include (or there is none)
// and no exclude.
func selectedBy(g Globs, name string) bool {
	in := len(g.Include) == 0
	for _, pat := range g.Include {
		if ok, _ := path.Match(pat, name); ok {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for _, pat := range g.Exclude {
		if ok, _ := path.Match(pat, name); ok {
			return false
		}
	}
	return true
}

// pollRepository checks one repository's tags against its checkpoint and
// enqueues the new and changed ones.
func (p *Poller) pollRepository(ctx context.Context, l lister, ref repoRef, dryRun, sweepCounts bool, rep *Report) error {
	repo := ref.name
	var ck checkpoint
	key := checkpointKey(p.cfg.Name, repo)
	rev, err := getJSON(ctx, p.d.KV, key, &ck)
	if err != nil {
		return err
	}
	if !ref.updated.IsZero() && rev != 0 && ck.UpdatedAt.Equal(ref.updated) {
		// Unchanged since its checkpoint (SWR moves a repository's
		// update time on every push): no tag is listed.
		return nil
	}
	heads, err := l.heads(ctx, ref)
	if err != nil {
		return err
	}
	rep.Tags += len(heads)
	next := checkpoint{Repository: repo, Tags: make(map[string]string, len(heads)), UpdatedAt: ck.UpdatedAt}
	changed := false
	var failed error
	for _, h := range heads {
		old, had := ck.Tags[h.tag]
		switch {
		case h.gone:
			changed = changed || had
			continue
		case h.err != nil:
			if had {
				next.Tags[h.tag] = old
			}
			failed = errors.Join(failed, fmt.Errorf("%s: %w", h.tag, h.err))
			continue
		case had && old == h.digest:
			next.Tags[h.tag] = old
			continue
		}
		changed = true
		reason, err := l.notImage(ctx, repo, h)
		if err != nil {
			failed = errors.Join(failed, fmt.Errorf("%s: %w", h.tag, err))
			if had {
				next.Tags[h.tag] = old
			}
			continue
		}
		if reason != "" {
			// Remembered, so the manifest is not fetched again while
			// the tag stays.
			rep.Skipped = append(rep.Skipped, SkipLine{Ref: repo + ":" + h.tag + "@" + h.digest, Reason: reason})
			p.d.Metrics.job(p.cfg.Name, "skipped")
			next.Tags[h.tag] = h.digest
			continue
		}
		stored, err := p.enqueue(ctx, formats.Push{Host: l.host(), Repository: repo, Tag: h.tag, Digest: h.digest, MediaType: h.mediaType},
			dryRun, sweepCounts, rep)
		if err != nil {
			failed = errors.Join(failed, fmt.Errorf("%s: %w", h.tag, err))
			if had {
				next.Tags[h.tag] = old // try again next round
			}
			continue
		}
		if stored {
			next.Tags[h.tag] = h.digest
		}
	}
	if len(next.Tags) != len(ck.Tags) {
		changed = true
	}
	if failed == nil && !ref.updated.IsZero() && !next.UpdatedAt.Equal(ref.updated) {
		// Every tag settled: the next round skips the repository until
		// it moves again. With a failure the old time stays, so the
		// next round lists it again.
		next.UpdatedAt, changed = ref.updated, true
	}
	if dryRun || p.d.KV == nil || !changed && rev != 0 {
		return failed
	}
	next.CheckedAt = time.Now().UTC()
	b, err := json.Marshal(next)
	if err != nil {
		return errors.Join(failed, err)
	}
	if rev == 0 {
		_, err = p.d.KV.Create(ctx, key, b)
	} else {
		_, err = p.d.KV.Update(ctx, key, b, rev)
	}
	if err != nil {
		// Another writer (a manual `bridge sources run`) got there
		// first: its checkpoint stands; jobs are deduplicated by id.
		return errors.Join(failed, fmt.Errorf("write checkpoint: %w", err))
	}
	return failed
}

// enqueue plans one push through the webhook path and stores its job. It
// reports whether the tag is settled: stored, a duplicate, skipped or
// invalid (which a retry would not change), so the checkpoint records it.
func (p *Poller) enqueue(ctx context.Context, push formats.Push, dryRun, sweepCounts bool, rep *Report) (bool, error) {
	rc := handlers.ReceiverConfig{Name: p.cfg.Name, Target: p.cfg.Target, InstanceID: p.cfg.InstanceID,
		InstanceURL: p.cfg.InstanceURL, DefaultNamespace: p.cfg.DefaultNamespace}
	e, err := p.d.Planner.PlanPolled(p.cfg.SweepFor, rc, p.registryLabel(), []formats.Push{push})
	if err != nil {
		return false, fmt.Errorf("plan: %w", err)
	}
	for _, s := range e.Skipped {
		rep.Skipped = append(rep.Skipped, SkipLine{Ref: s.Ref, Reason: s.Reason})
		p.d.Metrics.job(p.cfg.Name, "skipped")
	}
	for _, msg := range e.Errors {
		rep.Invalid = append(rep.Invalid, msg)
		p.d.Metrics.job(p.cfg.Name, "invalid")
		p.log.Warn("source image refused", "error", msg)
	}
	for _, ej := range e.Jobs {
		line := JobLine{ID: ej.ID, Image: ej.Job.Ref()}
		known := false
		if p.cfg.SweepFor != "" && p.d.Known != nil {
			_, _, err := p.d.Known.Get(ctx, lifecycle.KeyOf(ej.Job))
			switch {
			case err == nil:
				known = true
			case !errors.Is(err, lifecycle.ErrNotFound):
				return false, fmt.Errorf("lifecycle: %w", err)
			}
		}
		if !dryRun {
			// The request id of a polled job names the round, as a
			// webhook's names its delivery; it is no part of the id.
			ej.Job.RequestID = fmt.Sprintf("poll-%s-%d", p.cfg.Name, rep.Started.Unix())
			if p.cfg.SweepFor != "" {
				// A sweep re-finds what webhooks should have announced:
				// it takes only the quota pushes leave free. A source of
				// its own is the only signal of its pushes and stays in
				// the push lane (docs/scheduling.md, "Lanes").
				ej.Job.Lane = scanjob.LaneSweep
			}
			pctx, cancel := context.WithTimeout(ctx, publishTimeout)
			dup, err := p.d.Publisher.Publish(pctx, ej.Job)
			cancel()
			if err != nil {
				p.d.Metrics.job(p.cfg.Name, "failed")
				return false, fmt.Errorf("store job: %w", err)
			}
			line.Duplicate = dup
			if dup {
				p.d.Metrics.job(p.cfg.Name, "duplicate")
			} else {
				p.d.Metrics.job(p.cfg.Name, "enqueued")
			}
		}
		if p.cfg.SweepFor != "" && !line.Duplicate && !known {
			line.Found = sweepCounts
			if sweepCounts {
				rep.Found++
				if !dryRun {
					p.d.Metrics.foundOne(p.cfg.Name)
				}
				p.log.Info("sweep found an image no webhook announced", "image", line.Image, "job_id", line.ID, "receiver", p.cfg.SweepFor)
			}
		}
		rep.Jobs = append(rep.Jobs, line)
	}
	return true, nil
}
