package natsconn

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// serverLog is the embedded nats-server's logger (server.Logger): its
// lines go to the bridge's slog logger, and its errors are kept, so that
// a server that does not come up is reported with the server's own
// reason (a port in use, a store it cannot write) instead of a timeout.
//
// Levels: warnings and errors as such, fatal errors as errors (the
// server's own logger would exit the process; this one records them and
// StartEmbedded stops the server). Notices go to debug: on every start
// nats-server writes some twenty of them (version, ids, the JetStream
// banner and limits), which the bridge's one "embedded nats started" line
// sums up. Trace is off.
type serverLog struct {
	log *slog.Logger

	mu sync.Mutex
	// last is the last error the server logged (a *serverError).
	last error
	// fatal is closed at the first fatal error.
	fatal     chan struct{}
	fatalOnce sync.Once
}

func newServerLog(log *slog.Logger) *serverLog {
	return &serverLog{log: log, fatal: make(chan struct{})}
}

// serverLogMsg is the message of every line; the server's text is the
// detail attribute.
const serverLogMsg = "nats server"

func (l *serverLog) Noticef(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }
func (l *serverLog) Warnf(format string, v ...any)   { l.emit(slog.LevelWarn, format, v) }
func (l *serverLog) Debugf(format string, v ...any)  { l.emit(slog.LevelDebug, format, v) }
func (l *serverLog) Tracef(string, ...any)           {}

func (l *serverLog) Errorf(format string, v ...any) {
	l.record(format, v)
	l.emit(slog.LevelError, format, v)
}

func (l *serverLog) Fatalf(format string, v ...any) {
	l.record(format, v)
	l.emit(slog.LevelError, format, v)
	l.fatalOnce.Do(func() { close(l.fatal) })
}

func (l *serverLog) emit(level slog.Level, format string, v []any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, serverLogMsg, "detail", fmt.Sprintf(format, v...))
}

// record keeps the error a line reports.
func (l *serverLog) record(format string, v []any) {
	e := &serverError{text: fmt.Sprintf(format, v...)}
	for _, a := range v {
		if err, ok := a.(error); ok {
			e.err = err
		}
	}
	l.mu.Lock()
	l.last = e
	l.mu.Unlock()
}

// serverError is a line the server logged as an error, and the error
// value it named, if any.
type serverError struct {
	text string
	err  error
}

func (e *serverError) Error() string { return e.text }
func (e *serverError) Unwrap() error { return e.err }

// lastError is the last error the server logged, nil when none.
func (l *serverLog) lastError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}
