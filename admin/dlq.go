package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scan-bridge/scan-bridge/queue"
)

const (
	// defaultListLimit is how many records GET /admin/dlq returns when no
	// limit is given: a page a person can read.
	defaultListLimit = 100
	// maxLimit bounds one request. A redrive republishes and deletes one
	// record at a time, each waiting for the server's answer; at most this
	// many per request keeps a request short and a mistaken redrive or
	// purge small. The answer says limit_reached so a client repeats.
	maxLimit = 1000
	// actionTimeout bounds one redrive or purge. The action runs detached
	// from the request: a client that hangs up half-way does not cut it
	// between a republish and the delete that follows.
	actionTimeout = 2 * time.Minute
)

func badRequest(reqID string, err error) reply {
	return reply{http.StatusBadRequest, ErrorAnswer{Error: err.Error(), RequestID: reqID}, outcomeBadRequest}
}

func (a *api) list(c echo.Context, reqID string) reply {
	req, err := parseFilter(c, false)
	if err != nil {
		return badRequest(reqID, err)
	}
	f, err := req.filter(defaultListLimit)
	if err != nil {
		return badRequest(reqID, err)
	}
	recs, err := a.dl.List(c.Request().Context(), f)
	if err != nil {
		a.log.Error("list dead letters", "request_id", reqID, "error", err)
		return reply{http.StatusInternalServerError, ErrorAnswer{Error: err.Error(), RequestID: reqID}, outcomeError}
	}
	ans := ListAnswer{Count: len(recs), LimitReached: len(recs) == f.Limit, DeadLetters: make([]DeadLetterRecord, len(recs))}
	for i, r := range recs {
		ans.DeadLetters[i] = DeadLetterRecord{Seq: r.Seq, DeadLetter: r}
	}
	return reply{http.StatusOK, ans, outcomeOK}
}

func (a *api) show(c echo.Context, reqID string) reply {
	seq, err := strconv.ParseUint(c.Param("seq"), 10, 64)
	if err != nil || seq == 0 {
		return badRequest(reqID, fmt.Errorf("seq %q: want a dead-letter sequence, a positive integer", c.Param("seq")))
	}
	rec, err := a.dl.Get(c.Request().Context(), seq)
	if errors.Is(err, queue.ErrNotFound) {
		return reply{http.StatusNotFound, ErrorAnswer{Error: err.Error(), RequestID: reqID}, outcomeNotFound}
	}
	if err != nil {
		a.log.Error("get dead letter", "seq", seq, "request_id", reqID, "error", err)
		return reply{http.StatusInternalServerError, ErrorAnswer{Error: err.Error(), RequestID: reqID}, outcomeError}
	}
	return reply{http.StatusOK, DeadLetterRecord{Seq: seq, DeadLetter: rec}, outcomeOK}
}

// action is what redrive and purge share: the filter, whether it is a dry
// run, a context that outlives a client that hangs up (capped), and a
// logger naming who asked for what.
type action struct {
	f   queue.Filter
	dry bool
	ctx context.Context
	log *slog.Logger
}

// newAction reads a redrive or purge request. The caller must call the
// returned cancel when the action is done; on a bad request it gets the
// 400 answer instead.
func (a *api) newAction(c echo.Context, reqID string) (action, context.CancelFunc, *reply) {
	req, err := parseFilter(c, true)
	if err != nil {
		r := badRequest(reqID, err)
		return action{}, nil, &r
	}
	f, err := req.filter(maxLimit)
	if err != nil {
		r := badRequest(reqID, err)
		return action{}, nil, &r
	}
	dry := req.dryRun()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), actionTimeout)
	log := a.log.With("request_id", reqID, "remote", c.RealIP(), "namespace", f.Namespace, "error_code", f.ErrorCode, "reason", f.Reason,
		"older_than", f.OlderThan.String(), "dry_run", dry)
	return action{f: f, dry: dry, ctx: ctx, log: log}, cancel, nil
}

func (a *api) redrive(c echo.Context, reqID string) reply {
	act, cancel, bad := a.newAction(c, reqID)
	if bad != nil {
		return *bad
	}
	defer cancel()
	f, dry, log := act.f, act.dry, act.log
	rep, err := a.dl.Redrive(act.ctx, f, dry)

	ans := RedriveAnswer{DryRun: dry, Jobs: make([]RedrivenJob, len(rep.Redriven)), Skipped: rep.Skipped, RequestID: reqID,
		LimitReached: len(rep.Redriven)+len(rep.Skipped) == f.Limit}
	if ans.Skipped == nil {
		ans.Skipped = []uint64{}
	}
	for i, r := range rep.Redriven {
		ans.Jobs[i] = RedrivenJob{Seq: r.Seq, JobID: r.JobID, MsgID: r.MsgID, Duplicate: r.Duplicate, StreamSeq: r.NewSeq}
	}
	if err != nil {
		log.Error("redrive dead letters stopped", "redriven", len(rep.Redriven), "error", err)
		ans.Error = err.Error()
		return reply{http.StatusInternalServerError, ans, outcomeError}
	}
	if dry {
		return reply{http.StatusOK, ans, outcomeDryRun}
	}
	log.Info("dead letters redriven", "redriven", len(rep.Redriven), "skipped", len(rep.Skipped))
	return reply{http.StatusOK, ans, outcomeOK}
}

func (a *api) purge(c echo.Context, reqID string) reply {
	act, cancel, bad := a.newAction(c, reqID)
	if bad != nil {
		return *bad
	}
	defer cancel()
	f, dry, log := act.f, act.dry, act.log
	seqs, err := a.dl.Purge(act.ctx, f, dry)

	ans := PurgeAnswer{DryRun: dry, Seqs: seqs, LimitReached: len(seqs) == f.Limit, RequestID: reqID}
	if ans.Seqs == nil {
		ans.Seqs = []uint64{}
	}
	if err != nil {
		log.Error("purge dead letters stopped", "purged", len(seqs), "error", err)
		ans.Error = err.Error()
		return reply{http.StatusInternalServerError, ans, outcomeError}
	}
	if dry {
		return reply{http.StatusOK, ans, outcomeDryRun}
	}
	log.Info("dead letters purged", "purged", len(seqs))
	return reply{http.StatusOK, ans, outcomeOK}
}
