package handlers

import (
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// floodNATS starts an in-process NATS server and returns a connection for
// the intake, whose slow-consumer reports are counted in slow, and one for
// the publisher.
func floodNATS(t *testing.T, slow *atomic.Int32) (intake, publisher *nats.Conn) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.ConfigureLogger()
	go ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(ns.Shutdown)
	connect := func(opts ...nats.Option) *nats.Conn {
		nc, err := nats.Connect(ns.ClientURL(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	intake = connect(nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { t.Logf("DIAG disconnected: %v", err) }), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		t.Logf("DIAG async error: %v", err)
		if errors.Is(err, nats.ErrSlowConsumer) {
			slow.Add(1)
		}
	}))
	return intake, connect()
}

// TestNATSIntakeFloodStaysBounded publishes 1,000 messages of 4 KiB while
// every handler is stuck in the store: what waits stays within the
// pending limits, the rest is dropped and counted, and the intake works
// again once the store does.
func TestNATSIntakeFloodStaysBounded(t *testing.T) {
	const (
		flood        = 1000
		size         = 4 << 10
		pendingMsgs  = 20
		pendingBytes = 32 << 10
	)
	var slow atomic.Int32
	intakeConn, pubConn := floodNATS(t, &slow)
	pub := &blockingPublisher{entered: make(chan struct{}, flood*2), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.Receivers = []ReceiverConfig{{Name: "ci", Format: "generic", Target: target, Auth: AuthConfig{Method: AuthNone}}}
	srv, err := New(cfg, Options{Publisher: pub, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	in, err := srv.ServeNATS(intakeConn, NATSIntakeConfig{Enabled: true, MaxInFlight: 2, MaxPendingMessages: pendingMsgs, MaxPendingBytes: pendingBytes})
	if err != nil {
		t.Fatal(err)
	}
	// The subscription reaches the server asynchronously; what is
	// published before it does finds no interest and is gone.
	if err := intakeConn.Flush(); err != nil {
		t.Fatal(err)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			close(pub.release)
		}
		_ = in.Shutdown(t.Context())
	})

	body := push + strings.Repeat(" ", size-len(push))
	for range flood {
		if err := pubConn.Publish("scanbridge.intake.ci", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pubConn.Flush(); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		dropped, _ := in.sub.Dropped()
		delivered, _ := in.sub.Delivered()
		msgs, _, _ := in.sub.Pending()
		// The message in the callback (waiting for a handler) counts
		// as delivered and as pending until the callback returns.
		if int64(dropped)+delivered+int64(msgs) >= flood {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d dropped, %d delivered, %d pending of %d", dropped, delivered, msgs, flood)
		}
		time.Sleep(20 * time.Millisecond)
	}
	maxMsgs, maxBytes, err := in.sub.MaxPending()
	if err != nil {
		t.Fatal(err)
	}
	// The client reserves a message before checking it against the
	// limits, so the high-water mark may be one message over.
	if maxMsgs > pendingMsgs+1 || maxBytes > pendingBytes+size+256 {
		t.Fatalf("pending reached %d messages, %d bytes; limits %d, %d", maxMsgs, maxBytes, pendingMsgs, pendingBytes)
	}
	dropped, _ := in.sub.Dropped()
	if dropped < flood/2 {
		t.Fatalf("only %d of %d messages dropped with every handler stuck", dropped, flood)
	}
	if got := testutil.ToFloat64(srv.in.metrics.webhooks.WithLabelValues("ci", "accepted")); got != 0 {
		t.Fatalf("%v accepted while the store was stuck", got)
	}
	if n := testutil.ToFloat64(collectorNamed(t, reg, "scanbridge_nats_intake_dropped_total")); n != float64(dropped) {
		t.Fatalf("scanbridge_nats_intake_dropped_total = %v, want %d", n, dropped)
	}
	if slow.Load() == 0 {
		t.Fatal("the connection was never told of a slow consumer")
	}

	// Once the store works again, what waits is handled; a request
	// published while the pending limits are still reached would be
	// dropped like the flood, so the test waits as a retrying
	// publisher would.
	close(pub.release)
	released = true
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		msgs, _, err := in.sub.Pending()
		if err != nil || msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still pending a minute after the store recovered", msgs)
		}
	}
	reply, err := pubConn.Request("scanbridge.intake.ci", []byte(strings.Replace(push, "1.0", "after-the-flood", 1)), 10*time.Second)
	if err != nil {
		t.Fatalf("request after the flood: %v", err)
	}
	var a NATSAnswer
	if err := json.Unmarshal(reply.Data, &a); err != nil || a.Code != 202 {
		t.Fatalf("after the flood: %s (%v), want code 202", reply.Data, err)
	}
}

// collectorNamed finds a registered metric by name, as a collector for
// testutil.ToFloat64.
func collectorNamed(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Error(err)
			return
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "", nil, nil), prometheus.CounterValue, mf.GetMetric()[0].GetCounter().GetValue())
			}
		}
	})
}

// TestNATSIntakeLimits checks that the NATS intake applies the receiver's
// body budget and jobs cap as the webhook does.
func TestNATSIntakeLimits(t *testing.T) {
	var slow atomic.Int32
	intakeConn, pubConn := floodNATS(t, &slow)
	pub := &countingPublisher{}
	cfg := DefaultConfig()
	cfg.Receivers = []ReceiverConfig{{Name: "ci", Format: "generic", Target: target, MaxJobs: 2, MaxBodyBytes: 2048, Auth: AuthConfig{Method: AuthNone}}}
	srv, err := New(cfg, Options{Publisher: pub})
	if err != nil {
		t.Fatal(err)
	}
	in, err := srv.ServeNATS(intakeConn, NATSIntakeConfig{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Shutdown(t.Context()) })
	if err := intakeConn.Flush(); err != nil { // the subscription is on the server
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		body       string
		wantCode   int
		wantReason string
	}{
		{"max_jobs pushes are accepted", genericEvents(2, 0), 202, ""},
		{"a push over max_jobs is refused", genericEvents(3, 0), 413, "body holds 3 tagged pushes; this receiver accepts at most 2 per request; nothing was stored"},
		{"a payload over max_body_bytes is refused", push + strings.Repeat(" ", 2048), 413, "body is over 2048 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub.calls.Store(0)
			reply, err := pubConn.Request("scanbridge.intake.ci", []byte(tt.body), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var a NATSAnswer
			if err := json.Unmarshal(reply.Data, &a); err != nil {
				t.Fatal(err)
			}
			if a.Code != tt.wantCode || a.Reason != tt.wantReason {
				t.Fatalf("got %d %q, want %d %q", a.Code, a.Reason, tt.wantCode, tt.wantReason)
			}
			if tt.wantCode == 413 && pub.calls.Load() != 0 {
				t.Fatal("a refused message was published")
			}
		})
	}
}
