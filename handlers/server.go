package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var validate = validator.New(validator.WithRequiredStructEnabled())

// Config is the HTTP intake's configuration.
type Config struct {
	// MaxBodyBytes bounds a webhook body; larger ones get 413. A receiver
	// may set its own (ReceiverConfig.MaxBodyBytes). The default, 64 KiB,
	// is 17 times the largest real payload in handlers/formats/testdata (a
	// distribution multi-arch push envelope of 3,812 bytes): registries
	// send one event or a small batch per request. It also bounds the
	// memory of the requests in flight: 256 × 64 KiB = 16 MiB. The old
	// default, 1 MiB, let 200 slow senders hold 200 MiB.
	MaxBodyBytes int64 `koanf:"max_body_bytes" validate:"min=1024"`
	// MaxInFlight bounds the webhook requests handled at once, counted
	// before anything else is done with them; past it a request is
	// answered 503 with Retry-After at once, its body unread. Zero means
	// the default, 256: far above what registries send at once (one
	// request per push, answered in milliseconds unless the store is
	// slow), low enough that bodies in flight fit in memory.
	MaxInFlight int `koanf:"max_in_flight" validate:"min=0"`
	// PublishTimeout bounds the wait for the store before answering 503.
	PublishTimeout time.Duration `koanf:"publish_timeout" validate:"min=1000000"`
	// Receivers are the webhook endpoints.
	Receivers []ReceiverConfig `koanf:"receivers"`
	// Routes map pushes to SWR names and HSS targets, or drop them.
	Routes []RouteConfig `koanf:"routes"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 64 << 10, MaxInFlight: defaultMaxInFlight, PublishTimeout: 10 * time.Second}
}

const defaultMaxInFlight = 256

// Checker reports whether a dependency is ready to serve.
type Checker interface {
	// Ready returns nil when the dependency works now; it must return
	// quickly (the probe has a short deadline).
	Ready(ctx context.Context) error
}

// Options are the server's collaborators.
type Options struct {
	Publisher Publisher
	Logger    *slog.Logger
	// Registry receives the intake metrics and is served on the admin
	// listener's /metrics (NewAdminEcho).
	Registry *prometheus.Registry
	// Ready is checked by /readyz (NATS connected, stream reachable).
	Ready Checker
	// DryRun is reported by /readyz so nobody mistakes a dry run for the
	// real thing.
	DryRun bool
}

// Server holds the receivers and serves the routes.
type Server struct {
	cfg Config
	// snap is what a request reads once, when it starts: the receivers
	// and the intake with the routes of one configuration. Reload swaps
	// it whole (reload.go).
	snap atomic.Pointer[snapshot]
	// reloadMu makes one Reload at a time.
	reloadMu sync.Mutex
	// in is the first snapshot's intake, for what every snapshot shares:
	// the log and the metrics. Requests are processed by their
	// snapshot's intake, never this one.
	in   *intake
	opts Options
	// decoy is checked for unknown receivers (see refuseUnknown).
	decoy tokenAuth
	// inFlight holds a token per webhook request being handled.
	inFlight chan struct{}
}

// New checks every receiver (all errors at once, naming each field) and
// returns the server.
func New(cfg Config, opts Options) (*Server, error) {
	if err := validate.Struct(cfg); err != nil {
		return nil, fmt.Errorf("http config: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.MaxInFlight = cmp.Or(cfg.MaxInFlight, defaultMaxInFlight)
	s := &Server{cfg: cfg, opts: opts, decoy: newDecoy(),
		inFlight: make(chan struct{}, cfg.MaxInFlight)}
	s.in = &intake{pub: opts.Publisher, log: opts.Logger.With("component", "intake"), now: time.Now}
	// The metrics first, registered once the configuration is good: build
	// looks up each receiver's collectors.
	if opts.Registry != nil {
		s.in.metrics = newMetrics()
	}
	sn, _, err := s.build(cfg, nil)
	if err != nil {
		return nil, err
	}
	if opts.Registry != nil {
		s.in.metrics.register(opts.Registry)
	}
	s.snap.Store(sn)
	return s, nil
}

// Register adds the routes of the webhook listener to e: the webhook
// route, /healthz and /readyz, behind the request id middleware. Nothing
// else belongs there: that listener faces the registries, often the
// internet, so /metrics, the admin API and pprof are on the admin
// listener (NewAdminEcho), which a deployment keeps inside its network.
func (s *Server) Register(e *echo.Echo) {
	e.Use(requestID())
	e.POST("/webhooks/:receiver", s.webhook)
	e.POST("/webhooks/:receiver/:token", s.webhook) // auth method path-token
	e.OPTIONS("/webhooks/:receiver", s.abuseProtection)
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", s.readyz)
}

// NewEcho returns the Echo of the webhook listener: the routes of
// Register, with the bridge's recovery and error handling, ready for
// http.Server or e.Start.
func (s *Server) NewEcho() *echo.Echo {
	e := newEcho()
	e.Use(s.traceWebhooks())
	s.Register(e)
	return e
}

// NewAdminEcho returns the Echo of the admin listener, with the same
// recovery and request ids as NewEcho and, when Options.Registry was
// given, GET /metrics (RegisterMetrics). It needs no credentials: the
// listener is for Prometheus and operators, on loopback or inside the
// cluster. Routes added to it later (the admin API, package admin; pprof,
// cmd/bridge) get the same middleware: Echo applies e.Use middleware to
// every route at request time.
func (s *Server) NewAdminEcho() *echo.Echo {
	e := newEcho()
	e.Use(requestID())
	if s.opts.Registry != nil {
		RegisterMetrics(e, s.opts.Registry)
	}
	return e
}

// RegisterMetrics adds GET /metrics, reg in the Prometheus text format, to
// e. Register it on the admin listener only (see Register).
func RegisterMetrics(e *echo.Echo, reg *prometheus.Registry) {
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
}

// newEcho is an Echo without banner, which recovers from a panic in a
// handler with a 500.
func newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	return e
}

// webhook handles one delivery. The order bounds what a request can cost
// before it has proved its sender: the in-flight cap comes first, and
// where the auth method does not sign the body (token, basic, path-token,
// jwt, none) the sender is authenticated before a byte of the body is
// read; body-signing methods (hmac, standard-webhooks) read it under the
// receiver's byte budget first.
func (s *Server) webhook(c echo.Context) error {
	reqID := c.Response().Header().Get(echo.HeaderXRequestID)
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
	default:
		return s.refuseBusy(c, reqID)
	}
	start := time.Now()
	name := c.Param("receiver")
	sn := s.snap.Load()
	r, ok := sn.receivers[name]
	if !ok {
		return s.refuseUnknown(c, name, reqID)
	}
	defer func() { r.metrics.observe(time.Since(start).Seconds()) }()

	req := authRequest{header: c.Request().Header, pathToken: c.Param("token")}
	var d delivery
	var err error
	early := !r.auth.readsBody()
	if early {
		if d, err = r.auth.verify(c.Request().Context(), req); err != nil {
			return s.refuseAuth(c, name, reqID, err)
		}
		if wait, ok := r.allow(); !ok {
			return s.refuseRate(c, r, reqID, wait)
		}
	}
	if req.body, err = readBody(c, r.maxBody); err != nil {
		return s.refuseBody(c, name, reqID, r.maxBody, err)
	}
	if !early {
		if d, err = r.auth.verify(c.Request().Context(), req); err != nil {
			return s.refuseAuth(c, name, reqID, err)
		}
		if wait, ok := r.allow(); !ok {
			return s.refuseRate(c, r, reqID, wait)
		}
	}
	if d.replayed {
		return s.answerReplayed(c, name, reqID, d)
	}
	status, ans, reply := sn.in.process(c.Request().Context(), r, c.Request().Header, req.body, reqID)
	d.done(status)
	if reply != nil {
		return c.JSON(status, reply)
	}
	return writeAnswer(c, status, &ans)
}

// readBody reads the request body, at most limit bytes: a declared
// Content-Length over the limit is refused before reading, a body that
// turns out longer stops the read at the limit. Either way the error is an
// *http.MaxBytesError.
func readBody(c echo.Context, limit int64) ([]byte, error) {
	req := c.Request()
	if req.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	return readAll(http.MaxBytesReader(c.Response(), req.Body, limit), req.ContentLength)
}

// readAll is io.ReadAll starting from a buffer of the declared length (one
// more byte, to see the end without growing): a body whose length is
// known, as registries send, is read into one allocation of its size
// instead of io.ReadAll's 512 bytes grown by copies. The declared length
// is at most the receiver's body limit (readBody checks it first), so it
// cannot make the bridge allocate more than a body may be.
func readAll(r io.Reader, declared int64) ([]byte, error) {
	if declared <= 0 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, declared+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // longer than declared: grow as io.ReadAll does
		}
	}
}

// refuseBody answers a body that could not be read whole: 413 when it is
// over the budget, 400 otherwise (the sender went away or sent a broken
// chunked encoding).
func (s *Server) refuseBody(c echo.Context, name, reqID string, limit int64, err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.in.metrics.webhook(name, "too_large")
		closeAfter(c)
		return writeAnswer(c, http.StatusRequestEntityTooLarge, &Answer{Status: "error", Receiver: name, RequestID: reqID,
			Reason: fmt.Sprintf("body is over %d bytes", limit)})
	}
	return writeAnswer(c, http.StatusBadRequest, &Answer{Status: "error", Receiver: name, RequestID: reqID, Reason: "could not read the body"})
}

// refuseBusy answers a request over http.max_in_flight: 503 and
// Retry-After, at once, without reading the body or looking up the
// receiver. Registries retry a 503.
func (s *Server) refuseBusy(c echo.Context, reqID string) error {
	s.in.metrics.webhook("", "busy")
	closeAfter(c)
	c.Response().Header().Set("Retry-After", "1")
	return writeAnswer(c, http.StatusServiceUnavailable, &Answer{Status: "error", RequestID: reqID,
		Reason: "too many webhook requests in flight; retry later"})
}

// refuseRate answers an authenticated request over the receiver's rate
// limit: 429, with Retry-After in whole seconds (at least 1).
func (s *Server) refuseRate(c echo.Context, r *receiver, reqID string, wait time.Duration) error {
	s.in.metrics.webhook(r.cfg.Name, "rate_limited")
	s.in.log.Debug("webhook refused", "receiver", r.cfg.Name, "request_id", reqID, "reason", "rate_limited", "retry_after", wait.String())
	closeAfter(c)
	c.Response().Header().Set("Retry-After", strconv.Itoa(int(max(1, math.Ceil(wait.Seconds())))))
	return writeAnswer(c, http.StatusTooManyRequests, &Answer{Status: "error", Receiver: r.cfg.Name, RequestID: reqID,
		Reason: fmt.Sprintf("over this receiver's rate limit of %g requests per second; retry later", float64(r.limiter.Limit()))})
}

// closeAfter makes the server close the connection after this answer
// instead of reading the rest of an unread body to reuse it: a refused
// sender keeps no connection, and a slow one no goroutine.
func closeAfter(c echo.Context) {
	c.Response().Header().Set(echo.HeaderConnection, "close")
}

// abuseProtection answers the CloudEvents webhook validation handshake
// (CloudEvents HTTP webhook spec §4, used by Azure Event Grid's CloudEvents
// schema): the sender asks with OPTIONS and WebHook-Request-Origin and may
// deliver only when the origin is echoed back in WebHook-Allowed-Origin.
// https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/http-webhook.md#4-abuse-protection
//
// The answer is the same for every receiver name, known or not: it grants
// nothing (each POST is still authenticated), and a different answer for
// unknown names would let anyone list the receivers.
func (s *Server) abuseProtection(c echo.Context) error {
	origin := c.Request().Header.Get("WebHook-Request-Origin")
	if origin == "" {
		return c.NoContent(http.StatusBadRequest)
	}
	h := c.Response().Header()
	h.Set("WebHook-Allowed-Origin", origin)
	h.Set("WebHook-Allowed-Rate", "*")
	h.Set("Allow", "POST, OPTIONS")
	return c.NoContent(http.StatusOK)
}

func (s *Server) readyz(c echo.Context) error {
	body := map[string]any{"status": "ready", "dry_run": s.opts.DryRun}
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := s.opts.Ready.Ready(ctx); err != nil {
			body["status"], body["error"] = "not ready", err.Error()
			return c.JSON(http.StatusServiceUnavailable, body)
		}
	}
	return c.JSON(http.StatusOK, body)
}
