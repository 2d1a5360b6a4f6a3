package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// embeddedNATS starts a nats-server with JetStream in this process, the
// default when no NATS URL is configured: one command runs the bridge with
// nothing else installed. listen may be empty to accept in-process
// connections only.
func embeddedNATS(dataDir, listen string, log *slog.Logger) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "scan-bridge-embedded",
		JetStream:  true,
		StoreDir:   dataDir,
		NoSigs:     true, // the bridge owns signal handling and shuts NATS down last
		NoLog:      true,
	}
	if listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("nats.listen %q: %w", listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("nats.listen %q: port: %w", listen, err)
		}
		opts.Host, opts.Port = host, p
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready after 10s")
	}
	log.Info("embedded nats started", "store_dir", dataDir, "listen", listen)
	return ns, nil
}

// connectNATS connects to url, or in-process to ns when ns is set. The
// client reconnects forever: while it cannot, webhooks get 503 and the
// readiness probe says why.
func connectNATS(url, creds string, ns *server.Server, log *slog.Logger) (*nats.Conn, error) {
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
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
	}
	if creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	}
	if ns != nil {
		opts = append(opts, nats.InProcessServer(ns))
		url = ""
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect nats: %w", err)
	}
	return nc, nil
}

// natsReady is the readiness check: connected, and the stream answers.
type natsReady struct {
	nc     *nats.Conn
	stream func(ctx context.Context) error
}

func (r natsReady) Ready(ctx context.Context) error {
	if !r.nc.IsConnected() {
		return fmt.Errorf("nats: %s", r.nc.Status())
	}
	if err := r.stream(ctx); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	return nil
}
