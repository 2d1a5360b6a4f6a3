package integration

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/testcontainers/testcontainers-go"
	tcnats "github.com/testcontainers/testcontainers-go/modules/nats"
	"github.com/testcontainers/testcontainers-go/wait"
)

// natsImage is nats-server at the version this repository's go.mod
// requires, the same server the bridge embeds.
var natsImage = &goImage{
	tag:      "scan-bridge/nats:local",
	override: "SCANBRIDGE_NATS_IMAGE",
	pkg:      "github.com/nats-io/nats-server/v2",
	module:   "github.com/nats-io/nats-server/v2",
	binary:   "nats-server",
}

// natsReady is the line nats-server logs once it accepts clients. The
// module's default wait (a listening port) is not enough: the engine's port
// proxy accepts connections before the server listens, and the image has no
// shell for testcontainers' in-container port check.
const natsReady = "Server is ready"

// natsServer is a NATS server with JetStream in a container, its store on
// the container's file system so that it survives a restart.
type natsServer struct {
	c *tcnats.NATSContainer
}

// startNATS starts a NATS server with JetStream (file store in /data) and
// removes it when the test ends.
func startNATS(t *testing.T) *natsServer {
	t.Helper()
	image := natsImage.ensure(t)
	c, err := tcnats.Run(t.Context(), image,
		testcontainers.WithCmd("-js", "-sd", "/data/jetstream"),
		testcontainers.WithWaitStrategy(wait.ForLog(natsReady).WithStartupTimeout(time.Minute)),
	)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("start nats (%s): %v", image, err)
	}
	return &natsServer{c: c}
}

// URL is the client URL on the loopback. It changes when the container
// restarts (the engine publishes the port anew).
func (n *natsServer) URL(t *testing.T) string {
	t.Helper()
	url, err := n.c.ConnectionString(t.Context())
	if err != nil {
		t.Fatalf("nats client url: %v", err)
	}
	return url
}

// connect opens a client connection that the test closes at its end.
func (n *natsServer) connect(t *testing.T) *nats.Conn {
	t.Helper()
	url := n.URL(t)
	nc, err := nats.Connect(url, nats.Name(t.Name()), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect to nats at %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// restart stops the server (SIGTERM, as an orchestrator would) and starts
// the same container again, then waits until it is ready a second time.
func (n *natsServer) restart(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	timeout := 10 * time.Second
	if err := n.c.Stop(ctx, &timeout); err != nil {
		t.Fatalf("stop nats: %v", err)
	}
	if err := n.c.Start(ctx); err != nil {
		t.Fatalf("start nats again: %v", err)
	}
	// The log keeps the first run's lines: wait for the second ready line.
	if err := wait.ForLog(natsReady).WithOccurrence(2).WithStartupTimeout(time.Minute).WaitUntilReady(ctx, n.c); err != nil {
		t.Fatalf("nats after restart: %v\n%s", err, containerLogs(ctx, n.c))
	}
}

// TestNATSJetStream checks what the bridge's queue relies on, against the
// real server: a file-backed stream, Nats-Msg-Id deduplication of a
// retried publish, and stored messages that survive a server restart and
// are delivered in order to a durable pull consumer.
func TestNATSJetStream(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	ctx := t.Context()

	js, err := jetstream.New(srv.connect(t))
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       "SCANJOBS",
		Subjects:   []string{"scanjobs.>"},
		Storage:    jetstream.FileStorage,
		Duplicates: time.Minute,
	}); err != nil {
		t.Fatalf("create stream: %v", err)
	}

	publishes := []struct {
		name          string
		subject       string
		msgID         string
		data          string
		wantDuplicate bool
	}{
		{
			name:    "a first job is stored",
			subject: "scanjobs.image.team",
			msgID:   "job-team-app-1.0",
			data:    `{"namespace":"team","image_name":"app","image_version":"1.0"}`,
		},
		{
			name:    "a job of another namespace is stored under its own subject",
			subject: "scanjobs.image.ops",
			msgID:   "job-ops-tool-2.1",
			data:    `{"namespace":"ops","image_name":"tool","image_version":"2.1"}`,
		},
		{
			name:          "a registry retry of the first job is dropped as a duplicate",
			subject:       "scanjobs.image.team",
			msgID:         "job-team-app-1.0",
			data:          `{"namespace":"team","image_name":"app","image_version":"1.0"}`,
			wantDuplicate: true,
		},
	}
	for _, p := range publishes {
		ack, err := js.Publish(ctx, p.subject, []byte(p.data), jetstream.WithMsgID(p.msgID))
		if err != nil {
			t.Fatalf("%s: publish %s: %v", p.name, p.msgID, err)
		}
		if ack.Duplicate != p.wantDuplicate {
			t.Errorf("%s: PubAck.Duplicate = %v, want %v (sequence %d)", p.name, ack.Duplicate, p.wantDuplicate, ack.Sequence)
		}
	}

	srv.restart(t)

	js, err = jetstream.New(srv.connect(t))
	if err != nil {
		t.Fatalf("jetstream after restart: %v", err)
	}
	stream, err := js.Stream(ctx, "SCANJOBS")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info after restart: %v", err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("stream holds %d messages after restart, want 2 (one duplicate dropped)", info.State.Msgs)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:   "batcher",
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	batch, err := cons.FetchNoWait(3)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	var got []string
	for msg := range batch.Messages() {
		got = append(got, msg.Headers().Get(jetstream.MsgIDHeader)+" "+string(msg.Data()))
		if err := msg.Ack(); err != nil {
			t.Errorf("ack %s: %v", msg.Subject(), err)
		}
	}
	if err := batch.Error(); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	want := []string{
		publishes[0].msgID + " " + publishes[0].data,
		publishes[1].msgID + " " + publishes[1].data,
	}
	if len(got) != len(want) {
		t.Fatalf("fetched %d messages, want %d:\n%q", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d = %q, want %q", i, got[i], want[i])
		}
	}
}
