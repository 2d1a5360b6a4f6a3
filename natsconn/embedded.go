package natsconn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"strconv"
	"syscall"
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
	// lock is the data dir's, held until Stop.
	lock *dirLock
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
//
// Before the server starts, the data dir is made and proved writable, and
// its lock file taken (a second bridge on the same store is refused,
// naming the first one's pid). The server's own log goes to log
// (serverlog.go), and when it does not come up the error is its own
// reason, naming the setting: "nats.listen 127.0.0.1:4222: address
// already in use".
func StartEmbedded(c Config, log *slog.Logger) (_ *Embedded, err error) {
	opts := &server.Options{
		ServerName: serverName,
		JetStream:  true,
		StoreDir:   c.DataDir,
		// MaxPending (what the server holds for a client that reads
		// slower than it is sent to) stays at the server's 64 MiB: a
		// JetStream watch may have 32 MiB in flight, and a lower bound
		// cut the bridge's connection as a slow consumer while it read
		// a big bucket (pending_test.go). A flood of intake messages
		// fills the intake's own connection (cmd/bridge/serve.go), so
		// were that one cut, the connection that stores jobs is not.
		NoSigs: true, // the bridge owns signal handling and shuts NATS down last
	}
	if err := prepareDataDir(c.DataDir); err != nil {
		return nil, err
	}
	lock, err := lockDataDir(c.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.release()
		}
	}()
	e := &Embedded{lock: lock}
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
		hash, err := passwordHash(c, e.password)
		if err != nil {
			return nil, err
		}
		opts.Users = []*server.User{{Username: ListenUser, Password: hash}}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srvLog := newServerLog(log)
	ns.SetLoggerV2(srvLog, log.Enabled(context.Background(), slog.LevelDebug), false, false)
	go ns.Start()
	if err := waitReady(ns, srvLog); err != nil {
		ns.Shutdown()
		return nil, startError(c, err)
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

// waitReady waits until ns takes clients, it logs a fatal error, or
// readyTimeout passes. A server that failed (a port in use) stops
// starting but does not say so otherwise: without watching its log the
// wait would last the whole timeout.
func waitReady(ns *server.Server, log *serverLog) error {
	deadline := time.Now().Add(readyTimeout)
	for !ns.ReadyForConnections(readyPoll) {
		select {
		case <-log.fatal:
			return log.lastError()
		default:
		}
		if time.Now().After(deadline) {
			if err := log.lastError(); err != nil {
				return fmt.Errorf("not ready after %s: %w", readyTimeout, err)
			}
			return fmt.Errorf("not ready after %s", readyTimeout)
		}
	}
	select {
	case <-log.fatal: // ready, yet a part of it (JetStream) failed
		return log.lastError()
	default:
		return nil
	}
}

// readyPoll is how often waitReady looks at the server's log.
const readyPoll = 50 * time.Millisecond

// startError names the setting a start failure is about: the listen
// address when the server could not listen, the data dir when it could
// not write its store, else the server's own words.
func startError(c Config, err error) error {
	var op *net.OpError
	var errno syscall.Errno
	switch {
	case errors.As(err, &op) && op.Op == "listen":
		if errors.As(err, &errno) {
			return fmt.Errorf("nats.listen %s: %w", c.Listen, errno)
		}
		return fmt.Errorf("nats.listen %s: %w", c.Listen, op.Err)
	case errors.Is(err, fs.ErrPermission):
		return dataDirError(c.DataDir, err)
	}
	return fmt.Errorf("embedded nats: %w", err)
}

// Stop shuts the server down, waits until it is gone and releases the
// data dir's lock.
func (e *Embedded) Stop() {
	e.Shutdown()
	e.WaitForShutdown()
	e.lock.release()
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
