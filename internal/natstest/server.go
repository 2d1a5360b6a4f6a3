package natstest

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readyTimeout bounds a server's start. It only ends a hung test: a server
// starts in milliseconds, but the fault suite runs it beside bridge
// processes on a loaded machine.
const readyTimeout = 15 * time.Second

// serverName is the name of every server. The same name on every start
// makes a restarted server the same server to JetStream, as the bridge's
// embedded one is (natsconn/embedded.go).
const serverName = "natstest"

// Server is a nats-server with JetStream in this process, on 127.0.0.1.
// It keeps its port and store over Stop and Restart, so clients that
// reconnect find it where it was. Methods are safe for concurrent use.
type Server struct {
	t   testing.TB
	dir string

	mu   sync.Mutex
	port int // -1 until the first start picked one
	srv  *server.Server
}

// Start runs a server with JetStream on a random loopback port and a store
// in a t.TempDir, waits until it accepts clients, and stops it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir(), port: -1}
	t.Cleanup(s.Stop)
	s.Restart()
	return s
}

// Restart starts a stopped server again on the same port and store (the
// first start is Start's). It fails the test if the server is running.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.t.Fatal("natstest: restart of a running server")
	}
	// Fresh options every time: the server fills in and keeps its own.
	srv, err := server.NewServer(&server.Options{
		ServerName: serverName, Host: "127.0.0.1", Port: s.port,
		JetStream: true, StoreDir: s.dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		s.t.Fatalf("natstest: new server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		s.t.Fatalf("natstest: server not ready after %s (port %d, store %s)", readyTimeout, s.port, s.dir)
	}
	s.srv, s.port = srv, srv.Addr().(*net.TCPAddr).Port
}

// Stop shuts the server down and waits until it is gone. Clients stay
// open and reconnect if it is restarted. Stopping a stopped server does
// nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// URL is the client URL, the same before and after a restart.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", s.port)
}

// Server is the running nats-server (nil while stopped), e.g. for
// nats.InProcessServer.
func (s *Server) Server() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Connect opens a client connection with opts, closed at cleanup (before
// the server stops).
func (s *Server) Connect(opts ...nats.Option) *nats.Conn {
	s.t.Helper()
	url := s.URL()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		s.t.Fatalf("natstest: connect %s: %v", url, err)
	}
	s.t.Cleanup(nc.Close)
	return nc
}

// JetStream opens a connection of its own (as Connect) and returns its
// JetStream context; js.Conn() is the connection.
func (s *Server) JetStream(opts ...nats.Option) jetstream.JetStream {
	s.t.Helper()
	js, err := jetstream.New(s.Connect(opts...))
	if err != nil {
		s.t.Fatalf("natstest: jetstream: %v", err)
	}
	return js
}
