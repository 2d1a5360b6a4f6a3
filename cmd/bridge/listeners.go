package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/labstack/echo/v4"
	"golang.org/x/net/netutil"

	"github.com/scan-bridge/scan-bridge/config"
)

// The bridge has two listeners (README, "Operating it"). The webhook
// listener, http.listen, faces the registries and serves /webhooks/*,
// /healthz and /readyz only; it holds at most http.max_connections
// connections. The admin listener, admin.listen, serves /metrics, the
// admin API and, with debug.pprof, Go's profiles; it is on loopback
// unless configured otherwise and is off when admin.listen is empty.

// listenWebhooks opens the webhook listener, capped at
// http.max_connections open connections (see HTTPConfig.MaxConnections).
func listenWebhooks(c config.HTTPConfig) (net.Listener, error) {
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	return netutil.LimitListener(ln, c.MaxConnections), nil
}

// listenAdmin opens the admin listener; nil when admin.listen is empty.
func listenAdmin(c config.AdminConfig) (net.Listener, error) {
	if c.Listen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	return ln, nil
}

// newHTTPServer is the http.Server of either listener: both have the
// same timeouts, and log net/http's own errors as warnings.
func newHTTPServer(h http.Handler, c config.HTTPConfig, log *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadTimeout, ReadTimeout: c.ReadTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// registerPProf serves net/http/pprof's handlers under /debug/pprof on e.
// They are registered one by one rather than by serving
// http.DefaultServeMux (where importing net/http/pprof also puts them), so
// that the admin Echo's middleware runs and nothing else registered on
// the default mux is served by accident.
func registerPProf(e *echo.Echo) {
	e.GET("/debug/pprof/", echo.WrapHandler(http.HandlerFunc(pprof.Index)))
	e.GET("/debug/pprof/:profile", echo.WrapHandler(http.HandlerFunc(pprof.Index))) // heap, goroutine, allocs, ...
	e.GET("/debug/pprof/cmdline", echo.WrapHandler(http.HandlerFunc(pprof.Cmdline)))
	e.GET("/debug/pprof/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
	e.GET("/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	e.POST("/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	e.GET("/debug/pprof/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
}
