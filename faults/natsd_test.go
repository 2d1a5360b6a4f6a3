//go:build linux

package faults

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServer is a nats-server with JetStream in the test process, on a
// fixed loopback port and store, so a scenario can shut it down ("NATS is
// down") and start it again where the bridge expects it.
type natsServer struct {
	t    *testing.T
	port int
	dir  string
	srv  *server.Server
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	n := &natsServer{t: t, port: freePort(t), dir: t.TempDir()}
	n.start()
	t.Cleanup(n.stop)
	return n
}

// URL is where the bridge connects (nats.url).
func (n *natsServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// start starts the server on the same port and store as before.
func (n *natsServer) start() {
	n.t.Helper()
	if n.srv != nil {
		n.t.Fatal("nats: already running")
	}
	// Fresh options each time: the server fills in and keeps its own.
	srv, err := server.NewServer(&server.Options{
		ServerName: "faults", Host: "127.0.0.1", Port: n.port,
		JetStream: true, StoreDir: n.dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		n.t.Fatalf("nats: new server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		n.t.Fatalf("nats: not ready on port %d after 15s", n.port)
	}
	n.srv = srv
}

// stop shuts the server down and waits until it is gone (idempotent).
func (n *natsServer) stop() {
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

// connect opens the test's own connection (an operator's view of the
// streams), closed at cleanup.
func (n *natsServer) connect() jetstream.JetStream {
	n.t.Helper()
	nc, err := nats.Connect(n.URL(), nats.Name("faults-test"), nats.MaxReconnects(-1))
	if err != nil {
		n.t.Fatalf("nats: connect %s: %v", n.URL(), err)
	}
	n.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		n.t.Fatalf("nats: jetstream: %v", err)
	}
	return js
}

// streamState reads the job stream's counters.
func streamState(ctx context.Context, js jetstream.JetStream, name string) (jetstream.StreamState, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("stream %s info: %w", name, err)
	}
	return info.State, nil
}

// freePort is a loopback port nobody listens on now. A scenario keeps it
// for its whole life, so a restarted process is found where it was.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
