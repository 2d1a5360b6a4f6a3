package natsconn

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// Connect opens the bridge's own connection: in-process to e when the
// bridge embeds NATS (e not nil; as ListenUser when e listens), else to
// c.URL with the config's credentials. The client reconnects
// forever: while it cannot, webhooks get 503 and the readiness probe says
// why. extra options come last, so they win (a second connection's
// nats.Name).
func Connect(c Config, e *Embedded, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("scan-bridge"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		// No reconnect buffer: while NATS is away a publish fails at once,
		// so a webhook is answered 503 right away (and the registry
		// retries) instead of waiting publish_timeout for a PubAck, and
		// nothing answered 503 is stored behind the sender's back later.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: a deliberate close or drain
				log.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	opts = append(opts, extra...)
	url := c.URL
	if e != nil {
		opts = append(opts, nats.InProcessServer(e))
		url = ""
		if e.password != "" {
			opts = append(opts, nats.UserInfo(ListenUser, string(e.password)))
		}
	}
	return c.connect(url, e == nil, opts)
}

// connect dials url with opts and, when withCreds, the config's
// credentials; the error names the URL without its password.
func (c Config) connect(url string, withCreds bool, opts []nats.Option) (*nats.Conn, error) {
	if withCreds {
		creds, err := c.credentials()
		if err != nil {
			return nil, err
		}
		if creds != nil {
			opts = append(opts, creds)
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect nats %s: %w", redact(url), err)
	}
	return nc, nil
}

// dialTimeout bounds a command's connection attempt.
const dialTimeout = 5 * time.Second

// Dial connects one of the bridge's commands (bridge dlq, bridge scan),
// named name, to the running bridge's NATS: flagURL when set (the
// commands' --nats-url), else nats.url, else the embedded server's
// listen address. It logs in with nats.creds_file, else nats.user and
// nats.password_file, else, when the config's bridge embeds NATS and
// listens, as ListenUser with the password file that bridge made (so the
// command must run with the bridge's config, where it can read that
// file). The connection does not reconnect: a command is short. The error
// says which URL failed.
func Dial(ctx context.Context, c Config, flagURL, name string) (*nats.Conn, error) {
	url, err := c.clientURL(flagURL)
	if err != nil {
		return nil, err
	}
	timeout := dialTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connect nats %s: %w", redact(url), err)
	}
	return c.connect(url, true, []nats.Option{nats.Name(name), nats.Timeout(timeout)})
}

// Drain drains nc (pending messages are delivered, subscriptions end),
// waits for it, and closes it: the last step of the bridge's shutdown.
func Drain(nc *nats.Conn) {
	_ = nc.Drain() // an error means it is already closed
	for nc.IsDraining() {
		time.Sleep(10 * time.Millisecond)
	}
	nc.Close()
}

// Ready is the readiness check of the bridge's connection: connected, and
// the job stream answers. It satisfies handlers.Checker.
type Ready struct {
	Conn *nats.Conn
	// Stream looks the job stream up; an error means it cannot be reached.
	Stream func(ctx context.Context) error
}

// Ready returns why NATS cannot serve now, or nil.
func (r Ready) Ready(ctx context.Context) error {
	if !r.Conn.IsConnected() {
		return fmt.Errorf("nats: %s", r.Conn.Status())
	}
	if err := r.Stream(ctx); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	return nil
}
