package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/queue"
)

// DeadLetters is what the admin API needs of the dead-letter stream.
// *queue.DeadLetters implements it; tests drive the API with an in-memory
// fake. Every method is safe for concurrent use.
type DeadLetters interface {
	// List returns the records f selects, oldest first.
	List(ctx context.Context, f queue.Filter) ([]queue.DeadLetter, error)
	// Get returns the record at seq; an unknown seq wraps queue.ErrNotFound.
	Get(ctx context.Context, seq uint64) (queue.DeadLetter, error)
	// Redrive republishes the job of every record f selects into the job
	// stream (under a new message id) and deletes the record; with dryRun
	// it only says what it would do. On error the report holds what was
	// done before it. The admin API gives no options: it redrives unpaced,
	// at most maxLimit records per request.
	Redrive(ctx context.Context, f queue.Filter, dryRun bool, opts ...queue.RedriveOption) (queue.RedriveReport, error)
	// Purge deletes the records f selects and returns their sequences;
	// with dryRun it deletes nothing.
	Purge(ctx context.Context, f queue.Filter, dryRun bool) ([]uint64, error)
}

// Options switch on the admin API and give it what it needs.
type Options struct {
	// Tokens are the accepted bearer tokens. More than one allows rotation
	// (add the new one, switch the clients, remove the old one). Empty
	// strings are ignored; with no token the admin routes do not exist
	// (404), so a bridge without an admin token has no admin surface.
	Tokens []string
	// DeadLetters is the dead-letter stream; the routes are not registered
	// without it.
	DeadLetters DeadLetters
	// Images is the image lifecycle store; GET /api/v1/images and
	// /api/v1/images/pending are not registered without it.
	Images Images
	// Logger may be nil (no logs).
	Logger *slog.Logger
	// Registry receives scanbridge_admin_actions_total; nil counts nothing.
	Registry prometheus.Registerer
}

// Admin outcomes, the "outcome" label of scanbridge_admin_actions_total.
const (
	outcomeOK           = "ok"
	outcomeDryRun       = "dry_run"
	outcomeBadRequest   = "bad_request"
	outcomeNotFound     = "not_found"
	outcomeUnauthorized = "unauthorized"
	outcomeError        = "error"
)

// errUnauthorized is the one answer to every failed admin check: it does
// not say whether the header, the scheme or the token was wrong.
var errUnauthorized = errors.New("missing or invalid admin token")

// api serves the /admin routes.
type api struct {
	dl     DeadLetters
	images Images
	// tokens holds the digests of the accepted tokens. A reload replaces
	// the whole slice (Tokens.Set); a request reads it once.
	tokens  *Tokens
	log     *slog.Logger
	actions *prometheus.CounterVec // nil without a registry
}

// Tokens are the admin API's accepted bearer tokens, replaceable while it
// serves: a configuration reload rotates admin.token_file without a
// restart (cmd/bridge/reload.go). Only digests are kept.
type Tokens struct {
	digests atomic.Pointer[[][sha256.Size]byte]
}

// Set replaces the accepted tokens. A request already past its check
// finishes; the next one is checked against the new set. An empty set is
// refused: it would leave the routes in place with no way in, where a
// bridge without admin tokens has no admin routes at all (turning the
// admin API off or on takes a restart).
func (t *Tokens) Set(tokens []string) error {
	var d [][sha256.Size]byte
	for _, s := range tokens {
		if s = strings.TrimSpace(s); s != "" {
			d = append(d, sha256.Sum256([]byte(s)))
		}
	}
	if len(d) == 0 {
		return errors.New("admin tokens: an empty set would lock the admin API; removing every token takes a restart")
	}
	t.digests.Store(&d)
	return nil
}

// Len is the number of accepted tokens.
func (t *Tokens) Len() int { return len(*t.digests.Load()) }

// Register adds the admin routes to e when a token and the dead letters
// (or the image store) are given, and returns the tokens it accepts, for
// rotation. Without them no route exists and every /admin path is 404, as
// for any unknown path, and it returns nil.
//
// The routes answer through e's middleware and error handler. An answer
// names the request id e's middleware.RequestID put on the response (the
// Echo handlers.Server.NewAdminEcho builds has it); without that middleware
// answers carry none.
func Register(e *echo.Echo, o Options) *Tokens {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &api{dl: o.DeadLetters, images: o.Images, tokens: new(Tokens), log: log.With("component", "admin")}
	if a.tokens.Set(o.Tokens) != nil {
		return nil
	}
	if a.dl == nil && a.images == nil {
		a.log.Warn("admin token set but no dead-letter stream or image store given; admin API disabled")
		return nil
	}
	if o.Registry != nil {
		a.actions = actionsCounter(o.Registry)
	}
	if a.dl != nil {
		e.GET("/admin/dlq", a.handle("list", a.list))
		e.GET("/admin/dlq/:seq", a.handle("show", a.show))
		e.POST("/admin/dlq/redrive", a.handle("redrive", a.redrive))
		e.POST("/admin/dlq/purge", a.handle("purge", a.purge))
	}
	if a.images != nil {
		e.GET("/api/v1/images", a.handle("images", a.listImages))
		e.GET("/api/v1/images/pending", a.handle("images_pending", a.pendingImages))
	}
	a.log.Info("admin API enabled", "tokens", a.tokens.Len(), "dead_letters", a.dl != nil, "images", a.images != nil)
	return a.tokens
}

// actionsCounter registers the counter once per registry (Register may run
// for more than one Echo of one process).
func actionsCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scanbridge_admin_actions_total",
		Help: "Admin API requests by action (list, show, redrive, purge, images, images_pending) and outcome (ok, dry_run, bad_request, not_found, unauthorized, error).",
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

// reply is what an admin handler decided: status, body, and the outcome to
// count.
type reply struct {
	status  int
	body    any
	outcome string
}

// handle authenticates, runs h and counts the outcome.
func (a *api) handle(action string, h func(c echo.Context, reqID string) reply) echo.HandlerFunc {
	return func(c echo.Context) error {
		reqID := c.Response().Header().Get(echo.HeaderXRequestID)
		if !a.authorized(c.Request().Header.Get(echo.HeaderAuthorization)) {
			a.count(action, outcomeUnauthorized)
			a.log.Warn("admin request refused", "action", action, "request_id", reqID, "remote", c.RealIP())
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="scan-bridge admin"`)
			return c.JSON(http.StatusUnauthorized, ErrorAnswer{Error: errUnauthorized.Error(), RequestID: reqID})
		}
		r := h(c, reqID)
		a.count(action, r.outcome)
		return c.JSON(r.status, r.body)
	}
}

// authorized checks "Authorization: Bearer <token>" (scheme in any case,
// RFC 6750 §2.1). Digests are compared, so the time taken depends neither
// on the presented token's length nor on which accepted token matched.
func (a *api) authorized(header string) bool {
	scheme, token, _ := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	got := sha256.Sum256([]byte(token))
	ok := 0
	for _, want := range *a.tokens.digests.Load() {
		ok |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return ok == 1
}

func (a *api) count(action, outcome string) {
	if a.actions != nil {
		a.actions.WithLabelValues(action, outcome).Inc()
	}
}
