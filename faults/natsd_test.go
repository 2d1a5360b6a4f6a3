//go:build linux

package faults

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
)

// The scenarios' own NATS server is natstest's: in this process, kept on
// its loopback port and store over Stop and Restart, so a scenario can shut
// it down ("NATS is down") and start it again where the bridge expects it.

// operatorJS opens the test's own connection (an operator's view of the
// streams), closed at cleanup.
func operatorJS(n *natstest.Server) jetstream.JetStream {
	return n.JetStream(nats.Name("faults-test"), nats.MaxReconnects(-1))
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
