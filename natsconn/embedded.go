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
	// password is ListenUser's, "" when the server does not listen.
	password secret
}

// StartEmbedded starts a nats-server with JetStream on c.DataDir and waits
// until it takes clients.
//
// With c.Listen empty (the default) it accepts in-process connections
// only: nothing outside the bridge's process can publish a job, purge the
// stream or read the dead letters. With c.Listen set, every client, the
// bridge's own in-process one included, must log in as ListenUser with the
// password of c.ListenPasswordPath, generated on the first start unless
// the operator gives the file. An open port without a login would let
// anyone on the host (or the pod network) put forged jobs on the stream,
// which the consumer signs and sends to HSS.
func StartEmbedded(c Config, log *slog.Logger) (*Embedded, error) {
	opts := &server.Options{
		ServerName: serverName,
		JetStream:  true,
		StoreDir:   c.DataDir,
		NoSigs:     true, // the bridge owns signal handling and shuts NATS down last
		NoLog:      true,
	}
	e := &Embedded{}
	if c.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitListen(c.Listen)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
		if e.password, err = listenPassword(c, log); err != nil {
			return nil, err
		}
		opts.Users = []*server.User{{Username: ListenUser, Password: string(e.password)}}
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
	e.Server = ns
	if c.Listen == "" {
		log.Info("embedded nats started, in-process only", "store_dir", c.DataDir)
	} else {
		log.Info("embedded nats started", "store_dir", c.DataDir, "listen", ns.Addr().String(), "user", ListenUser,
			"password_file", c.ListenPasswordPath())
	}
	return e, nil
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
