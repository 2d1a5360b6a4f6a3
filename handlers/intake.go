package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// Publisher stores jobs durably.
type Publisher interface {
	// Publish returns nil only once the job is stored (the JetStream
	// PubAck arrived). duplicate reports that an identical job was
	// already stored within the duplicate window. Safe for concurrent use.
	Publish(ctx context.Context, job scanjob.Job) (duplicate bool, err error)
}

// intake turns one authenticated body into stored jobs. It is shared by
// the HTTP route and the NATS intake, so both answer the same way.
type intake struct {
	pub     Publisher
	log     *slog.Logger
	metrics *Metrics
	router  *router
	now     func() time.Time
	// publishTimeout bounds the wait for the store, so a sender is told
	// 503 (and retries) rather than left hanging when NATS is down.
	publishTimeout time.Duration
}

// plan is what one body turns into, before anything is stored.
type plan struct {
	reply   any // a handshake body to send back instead of an answer
	jobs    []plannedJob
	skipped []SkipAnswer
	errors  []string // invalid jobs: the body is refused whole
}

type plannedJob struct {
	job      scanjob.Job
	decision Decision
}

// tooManyEventsError is a body with more events than the receiver's
// max_jobs; it is refused whole.
type tooManyEventsError struct {
	pushes, others, max int
}

func (e *tooManyEventsError) Error() string {
	if e.others == 0 {
		return fmt.Sprintf("body holds %d tagged pushes; this receiver accepts at most %d per request", e.pushes, e.max)
	}
	return fmt.Sprintf("body holds %d events (%d tagged pushes); this receiver accepts at most %d per request", e.pushes+e.others, e.pushes, e.max)
}

// plan decodes, normalizes, routes and validates one body. It stores
// nothing, so `bridge route` can show what a body would become. A body
// over the receiver's max_jobs is refused right after decoding, before
// any job is routed or validated.
func (in *intake) plan(r *receiver, h http.Header, body []byte) (plan, error) {
	res, err := r.decode(body, h)
	if err != nil {
		return plan{}, err
	}
	if n := len(res.Pushes) + len(res.Skipped); n > r.maxJobs {
		return plan{}, &tooManyEventsError{pushes: len(res.Pushes), others: len(res.Skipped), max: r.maxJobs}
	}
	var p plan
	if res.Reply != nil {
		p.reply = res.Reply
		return p, nil
	}
	for _, s := range res.Skipped {
		p.skipped = append(p.skipped, SkipAnswer{Ref: s.Ref, Reason: s.Reason})
	}
	accepted := in.now().UTC()
	for _, push := range res.Pushes {
		j, d := in.router.route(r.cfg.Name, push, r.job(push))
		switch {
		case d.Action == ActionDrop:
			p.skipped = append(p.skipped, SkipAnswer{Ref: push.Repository + ":" + push.Tag, Reason: fmt.Sprintf("dropped by routes[%d]", d.Rule)})
			continue
		case j.Namespace == "":
			p.skipped = append(p.skipped, SkipAnswer{Ref: push.Repository + ":" + push.Tag, Reason: "repository has no namespace and the receiver sets no default_namespace"})
			continue
		}
		if j.Target.ImageType != scanjob.InstanceImage {
			j.InstanceID, j.InstanceURL = "", "" // only SWR Enterprise items carry an instance
		}
		j.AcceptedAt = accepted
		if err := j.Validate(); err != nil {
			p.errors = append(p.errors, fmt.Sprintf("%s: %s", j.Ref(), joinLines(err)))
			continue
		}
		p.jobs = append(p.jobs, plannedJob{job: j, decision: d})
	}
	return p, nil
}

// process decodes, validates and stores. It returns the HTTP status and the
// answer; it changes nothing unless every job of the body is valid.
//
// reply, when not nil, is the body the sender requires instead of the
// answer (a subscription handshake).
func (in *intake) process(ctx context.Context, r *receiver, h http.Header, body []byte, reqID string) (status int, ans Answer, reply any) {
	// Not in.log.With(...): a JSON handler formats With's attributes at
	// once, on every request, even when nothing is logged at that level.
	log := requestLog{in.log, ctx, r.cfg.Name, reqID}
	ans = Answer{Receiver: r.cfg.Name, RequestID: reqID}

	p, err := in.plan(r, h, body)
	if tooMany := (*tooManyEventsError)(nil); errors.As(err, &tooMany) {
		log.Info("webhook refused", "reason", "too_many_jobs", "pushes", tooMany.pushes, "other_events", tooMany.others, "max_jobs", tooMany.max)
		in.metrics.webhook(r.cfg.Name, "too_many_jobs")
		ans.Status, ans.Reason = "error", tooMany.Error()+"; nothing was stored"
		return http.StatusRequestEntityTooLarge, ans, nil
	}
	if err != nil {
		log.Info("webhook refused", "reason", "malformed", "error", err)
		in.metrics.webhook(r.cfg.Name, "malformed")
		ans.Status, ans.Reason = "error", fmt.Sprintf("body is not a %s event: %v", r.cfg.Format, err)
		return http.StatusBadRequest, ans, nil
	}
	if p.reply != nil {
		// A handshake (Event Grid subscription validation): the sender
		// needs this exact body back, and there is nothing to store.
		log.Info("webhook handshake answered")
		in.metrics.webhook(r.cfg.Name, "handshake")
		return http.StatusOK, ans, p.reply
	}
	ans.Skipped = p.skipped
	if len(p.errors) > 0 {
		ans.Errors = p.errors
		log.Info("webhook refused", "reason", "invalid", "errors", ans.Errors)
		in.metrics.webhook(r.cfg.Name, "invalid")
		ans.Status, ans.Reason = "error", "a job breaks an HSS field limit; nothing was stored"
		return http.StatusBadRequest, ans, nil
	}
	if len(p.jobs) == 0 {
		ans.Status, ans.Reason = "ignored", "no tagged image push in this event"
		if len(ans.Skipped) == 1 {
			ans.Reason = ans.Skipped[0].Reason
		}
		log.Debug("webhook ignored", "reason", ans.Reason)
		in.metrics.webhook(r.cfg.Name, "ignored")
		return http.StatusOK, ans, nil
	}

	pctx, cancel := context.WithTimeout(ctx, in.publishTimeout)
	defer cancel()
	duplicates := 0
	ans.Jobs = make([]JobAnswer, 0, len(p.jobs))
	for i := range p.jobs {
		pj := &p.jobs[i]
		j := &pj.job
		j.RequestID = reqID // kept or made by requestid.go: at most 64 safe characters
		id := j.ID()
		dup, err := in.pub.Publish(pctx, *j)
		if err != nil {
			// Jobs stored before this one stay stored; the sender's retry
			// is deduplicated by their message ids.
			log.Warn("store failed", "job_id", id, "image", j.Ref(), "error", err)
			in.metrics.webhook(r.cfg.Name, "unavailable")
			ans.Status, ans.Reason, ans.Jobs = "error", "the queue could not store the job; retry later", nil
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				ans.Reason = "request cancelled"
			}
			return http.StatusServiceUnavailable, ans, nil
		}
		image := j.Ref()
		if log.enabled(slog.LevelDebug) { // its arguments would cost even when the line is not written
			log.Debug("job stored", "job_id", id, "image", image, "namespace", j.Namespace, "duplicate", dup, "event_id", j.EventID, "route", pj.decision.Rule)
		}
		ans.Jobs = append(ans.Jobs, JobAnswer{ID: id, Image: image, Duplicate: dup})
		if dup {
			duplicates++
		}
	}
	// One line per request, whatever the number of jobs; each job's own
	// line is at debug.
	if log.enabled(slog.LevelInfo) {
		log.Info("webhook accepted", "jobs", len(ans.Jobs), "duplicates", duplicates, "skipped", len(ans.Skipped), "images", firstImages(ans.Jobs, summaryImages))
	}
	traceJobs(ctx, len(ans.Jobs))
	r.metrics.accept()
	ans.Status = "accepted"
	return http.StatusAccepted, ans, nil
}

// summaryImages is how many images the summary line of a request names.
const summaryImages = 5

// firstImages returns the images of the first n jobs, and "…" when there
// are more.
func firstImages(jobs []JobAnswer, n int) []string {
	out := make([]string, 0, min(len(jobs), n)+1)
	for i, j := range jobs {
		if i == n {
			out = append(out, "…")
			break
		}
		out = append(out, j.Image)
	}
	return out
}

// requestLog adds one request's attributes (receiver, request_id) to
// each line it writes, only when the line is written: even putting them
// in an []any ahead costs allocations on every request.
type requestLog struct {
	l                   *slog.Logger
	ctx                 context.Context
	receiver, requestID string
}

func (r requestLog) log(level slog.Level, msg string, args ...any) {
	if r.enabled(level) {
		r.l.Log(r.ctx, level, msg, append([]any{"receiver", r.receiver, "request_id", r.requestID}, args...)...)
	}
}

// enabled reports whether a line at level would be written. A caller
// whose arguments cost something to compute or box (a Ref, a bool or an
// int in an any) asks first, so that a request pays for them only when
// the line is written.
func (r requestLog) enabled(level slog.Level) bool { return r.l.Enabled(r.ctx, level) }

func (r requestLog) Debug(msg string, args ...any) { r.log(slog.LevelDebug, msg, args...) }
func (r requestLog) Info(msg string, args ...any)  { r.log(slog.LevelInfo, msg, args...) }
func (r requestLog) Warn(msg string, args ...any)  { r.log(slog.LevelWarn, msg, args...) }

// joinLines flattens errors.Join output into one line for an answer.
func joinLines(err error) string {
	var u interface{ Unwrap() []error }
	if !errors.As(err, &u) {
		return err.Error()
	}
	s := ""
	for i, e := range u.Unwrap() {
		if i > 0 {
			s += "; "
		}
		s += e.Error()
	}
	return s
}
