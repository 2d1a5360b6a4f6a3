package natsconn

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// serverName is the embedded server's name. The same name on every start
// makes a restarted server the same server to JetStream, so it finds its
// own streams in the store.
const serverName = "scan-bridge-embedded"

// readyTimeout bounds the embedded server's start.
const readyTimeout = 10 * time.Second

// Embedded is the nats-server the bridge runs in its own process when no
// NATS URL is configured: one command runs the bridge with nothing else
// installed.
type Embedded struct {
	*server.Server
}

// StartEmbedded starts a nats-server with JetStream on c.DataDir and waits
// until it takes clients. With c.Listen empty it accepts in-process
// connections only.
func StartEmbedded(c Config, log *slog.Logger) (*Embedded, error) {
	opts := &server.Options{
		ServerName: serverName,
		JetStream:  true,
		StoreDir:   c.DataDir,
		NoSigs:     true, // the bridge owns signal handling and shuts NATS down last
		NoLog:      true,
	}
	if c.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitListen(c.Listen)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(readyTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after %s", readyTimeout)
	}
	log.Info("embedded nats started", "store_dir", c.DataDir, "listen", c.Listen)
	return &Embedded{Server: ns}, nil
}

// Stop shuts the server down and waits until it is gone.
func (e *Embedded) Stop() {
	e.Shutdown()
	e.WaitForShutdown()
}

// splitListen reads nats.listen, host:port. Port 0 picks a free port, as
// it does for net.Listen (nats-server itself reads 0 as its default 4222).
func splitListen(listen string) (string, int, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("nats.listen %q: %w", listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("nats.listen %q: port: want 0-65535", listen)
	}
	if p == 0 {
		p = server.RANDOM_PORT
	}
	return host, p, nil
}
