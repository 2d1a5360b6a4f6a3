package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestARestartedServerKeepsItsURLAndStore(t *testing.T) {
	s := Start(t)
	url := s.URL()
	js := s.JetStream(nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "T", Subjects: []string{"t"}}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(t.Context(), "t", []byte("kept")); err != nil {
		t.Fatalf("publish: %v", err)
	}

	s.Stop()
	s.Stop() // a second stop does nothing
	if s.Server() != nil {
		t.Fatal("Server() of a stopped server is not nil")
	}
	s.Restart()
	if s.URL() != url {
		t.Fatalf("URL after restart %s, was %s", s.URL(), url)
	}
	// The old connection reconnects; the message is still in the store.
	Eventually(t, 10*time.Second, "the client to reconnect", func() bool { return js.Conn().IsConnected() })
	st, err := js.Stream(t.Context(), "T")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	m, err := st.GetLastMsgForSubject(t.Context(), "t")
	if err != nil || string(m.Data) != "kept" {
		t.Fatalf("last message after restart = %v, %v; want %q", m, err, "kept")
	}
}

func TestServerServesInProcessConnections(t *testing.T) {
	s := Start(t)
	nc, err := nats.Connect("", nats.InProcessServer(s.Server()))
	if err != nil {
		t.Fatalf("in-process connect: %v", err)
	}
	defer nc.Close()
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
}
