package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/queue"
)

// The admin API is for an operator who fixed the cause of dead letters (or
// decided they are not worth fixing): list and inspect them, redrive them
// into the job stream, purge them. It changes nothing unless told so
// explicitly: redrive and purge are dry runs unless dry_run is false.
//
// The queue types are used as they are (handlers → queue is an allowed
// direction); DeadLetters below is the part of *queue.DeadLetters the API
// needs, so tests drive it with an in-memory fake.

// DeadLetters is what the admin API needs of the dead-letter stream.
// *queue.DeadLetters implements it. Every method is safe for concurrent use.
type DeadLetters interface {
	// List returns the records f selects, oldest first.
	List(ctx context.Context, f queue.Filter) ([]queue.DeadLetter, error)
	// Get returns the record at seq; an unknown seq wraps queue.ErrNotFound.
	Get(ctx context.Context, seq uint64) (queue.DeadLetter, error)
	// Redrive republishes the job of every record f selects into the job
	// stream (under a new message id) and deletes the record; with dryRun
	// it only says what it would do. On error the report holds what was
	// done before it. The admin API gives no options: it redrives unpaced,
	// at most maxAdminLimit records per request.
	Redrive(ctx context.Context, f queue.Filter, dryRun bool, opts ...queue.RedriveOption) (queue.RedriveReport, error)
	// Purge deletes the records f selects and returns their sequences;
	// with dryRun it deletes nothing.
	Purge(ctx context.Context, f queue.Filter, dryRun bool) ([]uint64, error)
}

// AdminOptions switch on the admin API.
type AdminOptions struct {
	// Tokens are the accepted bearer tokens. More than one allows rotation
	// (add the new one, switch the clients, remove the old one). Empty
	// strings are ignored; with no token the admin routes do not exist
	// (404), so a bridge without an admin token has no admin surface.
	Tokens []string
	// DeadLetters is the dead-letter stream; the routes are not registered
	// without it.
	DeadLetters DeadLetters
}

const (
	// defaultListLimit is how many records GET /admin/dlq returns when no
	// limit is given: a page a person can read.
	defaultListLimit = 100
	// maxAdminLimit bounds one request. A redrive republishes and deletes
	// one record at a time, each waiting for the server's answer; at most
	// this many per request keeps a request short and a mistaken redrive
	// or purge small. The answer says limit_reached so a client repeats.
	maxAdminLimit = 1000
	// adminActionTimeout bounds one redrive or purge. The action runs
	// detached from the request: a client that hangs up half-way does not
	// cut it between a republish and the delete that follows.
	adminActionTimeout = 2 * time.Minute
	// maxAdminBody bounds a filter body: a few short fields.
	maxAdminBody = 64 << 10
)

// Admin outcomes, the "outcome" label of scanbridge_admin_actions_total.
const (
	outcomeOK           = "ok"
	outcomeDryRun       = "dry_run"
	outcomeBadRequest   = "bad_request"
	outcomeNotFound     = "not_found"
	outcomeUnauthorized = "unauthorized"
	outcomeError        = "error"
)

// DeadLetterRecord is a dead letter as the admin API and `bridge dlq`
// print it: the stored record plus its sequence, the handle for show.
type DeadLetterRecord struct {
	Seq uint64 `json:"seq"`
	queue.DeadLetter
}

// ListAnswer is the body of GET /admin/dlq.
type ListAnswer struct {
	Count int `json:"count"`
	// LimitReached: there may be more; narrow the filter or raise limit.
	LimitReached bool               `json:"limit_reached"`
	DeadLetters  []DeadLetterRecord `json:"dead_letters"`
}

// RedriveAnswer is the body of POST /admin/dlq/redrive.
type RedriveAnswer struct {
	DryRun bool `json:"dry_run"`
	// Jobs are the jobs republished (or, in a dry run, that would be).
	Jobs []RedrivenJob `json:"jobs"`
	// Skipped are records without a job (malformed messages): look at
	// them with GET /admin/dlq/{seq}, then purge them.
	Skipped []uint64 `json:"skipped"`
	// LimitReached: more records may match; repeat the request.
	LimitReached bool `json:"limit_reached"`
	// Error is set when the redrive stopped half-way; Jobs is what was
	// done before it.
	Error     string `json:"error,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// RedrivenJob is one redriven record.
type RedrivenJob struct {
	Seq   uint64 `json:"seq"`
	JobID string `json:"job_id"`
	// MsgID is the new Nats-Msg-Id; a redrive never reuses the original
	// one, which the job stream could still drop as a duplicate.
	MsgID string `json:"msg_id"`
	// Duplicate: this redrive had already been stored (a repeated redrive
	// whose delete failed); the job is in the stream once.
	Duplicate bool `json:"duplicate,omitempty"`
	// StreamSeq is the job's new sequence in the job stream (0 in a dry run).
	StreamSeq uint64 `json:"stream_seq,omitempty"`
}

// PurgeAnswer is the body of POST /admin/dlq/purge.
type PurgeAnswer struct {
	DryRun bool `json:"dry_run"`
	// Seqs are the records deleted (or, in a dry run, that would be).
	Seqs         []uint64 `json:"seqs"`
	LimitReached bool     `json:"limit_reached"`
	Error        string   `json:"error,omitempty"`
	RequestID    string   `json:"request_id,omitempty"`
}

// AdminError is the body of every refused admin request.
type AdminError struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// errAdminUnauthorized is the one answer to every failed admin check: it
// does not say whether the header, the scheme or the token was wrong.
var errAdminUnauthorized = errors.New("missing or invalid admin token")

// admin serves the /admin routes.
type admin struct {
	dl      DeadLetters
	digests [][sha256.Size]byte // of the accepted tokens
	log     *slog.Logger
	actions *prometheus.CounterVec // nil without a registry
}

// registerAdmin adds the admin routes when a token and the dead letters
// are configured. Without them no route exists and every /admin path is
// 404, as for any unknown path.
func (s *Server) registerAdmin(e *echo.Echo) {
	o := s.opts.Admin
	a := &admin{dl: o.DeadLetters, log: s.opts.Logger.With("component", "admin")}
	for _, t := range o.Tokens {
		if t = strings.TrimSpace(t); t != "" {
			a.digests = append(a.digests, sha256.Sum256([]byte(t)))
		}
	}
	if len(a.digests) == 0 {
		return
	}
	if a.dl == nil {
		a.log.Warn("admin token set but no dead-letter stream given; admin API disabled")
		return
	}
	if s.opts.Registry != nil {
		a.actions = adminActions(s.opts.Registry)
	}
	e.GET("/admin/dlq", a.handle("list", a.list))
	e.GET("/admin/dlq/:seq", a.handle("show", a.show))
	e.POST("/admin/dlq/redrive", a.handle("redrive", a.redrive))
	e.POST("/admin/dlq/purge", a.handle("purge", a.purge))
	a.log.Info("admin API enabled", "tokens", len(a.digests))
}

// adminActions registers the counter once per registry (Register may run
// for more than one Echo of one server).
func adminActions(reg prometheus.Registerer) *prometheus.CounterVec {
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scanbridge_admin_actions_total",
		Help: "Admin API requests by action (list, show, redrive, purge) and outcome (ok, dry_run, bad_request, not_found, unauthorized, error).",
	}, []string{"action", "outcome"})
	if err := reg.Register(cv); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("register admin metrics: %v", err))
	}
	return cv
}

// adminReply is what an admin handler decided: status, body, and the
// outcome to count.
type adminReply struct {
	status  int
	body    any
	outcome string
}

// handle authenticates, runs h and counts the outcome.
func (a *admin) handle(action string, h func(c echo.Context, reqID string) adminReply) echo.HandlerFunc {
	return func(c echo.Context) error {
		reqID := c.Response().Header().Get(echo.HeaderXRequestID)
		if !a.authorized(c.Request().Header.Get(echo.HeaderAuthorization)) {
			a.count(action, outcomeUnauthorized)
			a.log.Warn("admin request refused", "action", action, "request_id", reqID, "remote", c.RealIP())
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="scan-bridge admin"`)
			return c.JSON(http.StatusUnauthorized, AdminError{Error: errAdminUnauthorized.Error(), RequestID: reqID})
		}
		r := h(c, reqID)
		a.count(action, r.outcome)
		return c.JSON(r.status, r.body)
	}
}

// authorized checks "Authorization: Bearer <token>" (scheme in any case,
// RFC 6750 §2.1). Digests are compared, so the time taken depends neither
// on the presented token's length nor on which accepted token matched.
func (a *admin) authorized(header string) bool {
	scheme, token, _ := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	got := sha256.Sum256([]byte(token))
	ok := 0
	for _, want := range a.digests {
		ok |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return ok == 1
}

func (a *admin) count(action, outcome string) {
	if a.actions != nil {
		a.actions.WithLabelValues(action, outcome).Inc()
	}
}

func badRequest(reqID string, err error) adminReply {
	return adminReply{http.StatusBadRequest, AdminError{Error: err.Error(), RequestID: reqID}, outcomeBadRequest}
}

func (a *admin) list(c echo.Context, reqID string) adminReply {
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
		return adminReply{http.StatusInternalServerError, AdminError{Error: err.Error(), RequestID: reqID}, outcomeError}
	}
	ans := ListAnswer{Count: len(recs), LimitReached: len(recs) == f.Limit, DeadLetters: make([]DeadLetterRecord, len(recs))}
	for i, r := range recs {
		ans.DeadLetters[i] = DeadLetterRecord{Seq: r.Seq, DeadLetter: r}
	}
	return adminReply{http.StatusOK, ans, outcomeOK}
}

func (a *admin) show(c echo.Context, reqID string) adminReply {
	seq, err := strconv.ParseUint(c.Param("seq"), 10, 64)
	if err != nil || seq == 0 {
		return badRequest(reqID, fmt.Errorf("seq %q: want a dead-letter sequence, a positive integer", c.Param("seq")))
	}
	rec, err := a.dl.Get(c.Request().Context(), seq)
	if errors.Is(err, queue.ErrNotFound) {
		return adminReply{http.StatusNotFound, AdminError{Error: err.Error(), RequestID: reqID}, outcomeNotFound}
	}
	if err != nil {
		a.log.Error("get dead letter", "seq", seq, "request_id", reqID, "error", err)
		return adminReply{http.StatusInternalServerError, AdminError{Error: err.Error(), RequestID: reqID}, outcomeError}
	}
	return adminReply{http.StatusOK, DeadLetterRecord{Seq: seq, DeadLetter: rec}, outcomeOK}
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
func (a *admin) newAction(c echo.Context, reqID string) (action, context.CancelFunc, *adminReply) {
	req, err := parseFilter(c, true)
	if err != nil {
		r := badRequest(reqID, err)
		return action{}, nil, &r
	}
	f, err := req.filter(maxAdminLimit)
	if err != nil {
		r := badRequest(reqID, err)
		return action{}, nil, &r
	}
	dry := req.dryRun()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), adminActionTimeout)
	log := a.log.With("request_id", reqID, "remote", c.RealIP(), "namespace", f.Namespace, "error_code", f.ErrorCode,
		"older_than", f.OlderThan.String(), "dry_run", dry)
	return action{f: f, dry: dry, ctx: ctx, log: log}, cancel, nil
}

func (a *admin) redrive(c echo.Context, reqID string) adminReply {
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
		return adminReply{http.StatusInternalServerError, ans, outcomeError}
	}
	if dry {
		return adminReply{http.StatusOK, ans, outcomeDryRun}
	}
	log.Info("dead letters redriven", "redriven", len(rep.Redriven), "skipped", len(rep.Skipped))
	return adminReply{http.StatusOK, ans, outcomeOK}
}

func (a *admin) purge(c echo.Context, reqID string) adminReply {
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
		return adminReply{http.StatusInternalServerError, ans, outcomeError}
	}
	if dry {
		return adminReply{http.StatusOK, ans, outcomeDryRun}
	}
	log.Info("dead letters purged", "purged", len(seqs))
	return adminReply{http.StatusOK, ans, outcomeOK}
}

// filterRequest is the filter of every admin request, from the query
// string or (redrive, purge) a JSON body.
type filterRequest struct {
	Namespace string `json:"namespace"`
	ErrorCode string `json:"error_code"`
	// OlderThan is a Go duration ("72h", "90m").
	OlderThan string `json:"older_than"`
	Limit     *int   `json:"limit"`
	// DryRun defaults to true: only an explicit false acts.
	DryRun *bool `json:"dry_run"`
}

// parseFilter reads the filter from the query or, when withBody, from a
// JSON body; not both, so a request never means two things. Unknown names
// are refused rather than ignored: a misspelt namespace would otherwise
// widen a redrive or purge to every record.
func parseFilter(c echo.Context, withBody bool) (filterRequest, error) {
	var req filterRequest
	query := c.QueryParams()
	var body []byte
	if withBody {
		b, err := io.ReadAll(io.LimitReader(c.Request().Body, maxAdminBody+1))
		if err != nil {
			return req, fmt.Errorf("read body: %w", err)
		}
		if len(b) > maxAdminBody {
			return req, fmt.Errorf("body is over %d bytes", maxAdminBody)
		}
		body = bytes.TrimSpace(b)
	}
	if len(body) > 0 {
		if len(query) > 0 {
			return req, errors.New("give the filter in the JSON body or in the query, not both")
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return req, fmt.Errorf("body: %w", err)
		}
		if dec.More() {
			return req, errors.New("body: one JSON object expected")
		}
		return req, nil
	}
	return req, filterFromQuery(query, withBody, &req)
}

func filterFromQuery(q url.Values, withDryRun bool, req *filterRequest) error {
	for name, vals := range q {
		if len(vals) != 1 {
			return fmt.Errorf("query parameter %s given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "namespace":
			req.Namespace = v
		case "error_code":
			req.ErrorCode = v
		case "older_than":
			req.OlderThan = v
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("limit %q: want an integer", v)
			}
			req.Limit = &n
		case "dry_run":
			if !withDryRun {
				return errors.New("dry_run: listing changes nothing")
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("dry_run %q: want true or false", v)
			}
			req.DryRun = &b
		default:
			known := "namespace, error_code, older_than, limit"
			if withDryRun {
				known += ", dry_run"
			}
			return fmt.Errorf("unknown query parameter %q (known: %s)", name, known)
		}
	}
	return nil
}

// filter checks the request and makes the queue filter; limit defaults to
// def and may not exceed maxAdminLimit.
func (r filterRequest) filter(def int) (queue.Filter, error) {
	f := queue.Filter{Namespace: r.Namespace, ErrorCode: r.ErrorCode, Limit: def}
	if r.OlderThan != "" {
		d, err := time.ParseDuration(r.OlderThan)
		if err != nil || d < 0 {
			return f, fmt.Errorf("older_than %q: want a positive duration such as 72h", r.OlderThan)
		}
		f.OlderThan = d
	}
	if r.Limit != nil {
		if *r.Limit < 1 || *r.Limit > maxAdminLimit {
			return f, fmt.Errorf("limit %d: want 1 to %d per request (repeat the request for more)", *r.Limit, maxAdminLimit)
		}
		f.Limit = *r.Limit
	}
	return f, nil
}

func (r filterRequest) dryRun() bool { return r.DryRun == nil || *r.DryRun }
