package integration

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// clusterName is the NATS cluster's name in the tests, as in
// deploy/compose.yaml.
const clusterName = "scan-bridge"

// natsNode is one server of a test cluster.
type natsNode struct {
	name string // server name and network alias: nats-1, nats-2, ...
	port int    // client port published on 127.0.0.1
	c    testcontainers.Container
	runs int // how many times it has started: its "ready" lines in the log
}

// natsCluster is a NATS cluster with JetStream on every server, as
// deploy/compose.yaml runs it: the servers route to each other over a
// network of their own, by name; each publishes its client port on the
// loopback at a fixed port, so that a server started again is at the same
// address. Clients are not told the servers' network addresses
// (no_advertise): they know only the loopback URLs they were given.
type natsCluster struct {
	nodes []*natsNode
}

// startNATSCluster starts n servers, waits until JetStream answers (a
// meta leader is elected), and removes the servers and their network when
// the test ends.
func startNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	image := natsImage.ensure(t)
	ctx := t.Context()
	nw, err := network.New(ctx)
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("create the cluster network: %v", err)
	}
	cl := &natsCluster{}
	var routes []string
	for i := 1; i <= n; i++ {
		name := "nats-" + strconv.Itoa(i)
		cl.nodes = append(cl.nodes, &natsNode{name: name, port: freeLoopbackPort(t)})
		routes = append(routes, "nats://"+name+":6222")
	}
	for _, node := range cl.nodes {
		hostPort := strconv.Itoa(node.port)
		c, err := testcontainers.Run(ctx, image,
			network.WithNetwork([]string{node.name}, nw),
			testcontainers.WithExposedPorts("4222/tcp"),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				hc.PortBindings = mobynet.PortMap{
					mobynet.MustParsePort("4222/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: hostPort}},
				}
			}),
			testcontainers.WithCmd(natsClusterArgs(node.name, routes)...),
			testcontainers.WithWaitStrategy(wait.ForLog(natsReady).WithStartupTimeout(time.Minute)),
		)
		testcontainers.CleanupContainer(t, c)
		if err != nil {
			t.Fatalf("start %s: %v", node.name, err)
		}
		node.c, node.runs = c, 1
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, node := range cl.nodes {
				t.Logf("%s logs (last 30 lines):\n%s", node.name, lastLines(containerLogs(context.Background(), node.c), 30))
			}
		}
	})
	js := cl.jetStream(t)
	wctx := ctxDeadline(t, time.Minute)
	var last error
	if err := poll(wctx, 250*time.Millisecond, func() (bool, error) {
		// Without a meta leader a request gets no answer at all: each
		// one waits two seconds at most.
		rctx, cancel := context.WithTimeout(wctx, 2*time.Second)
		defer cancel()
		_, last = js.AccountInfo(rctx)
		return last == nil, nil
	}); err != nil {
		t.Fatalf("JetStream of the cluster never answered: %v (last: %v)", err, last)
	}
	return cl
}

// natsClusterArgs are the server's arguments: JetStream with a file store,
// the cluster port and the routes to every member (itself included, which
// the server ignores), no advertisement of cluster addresses to clients.
func natsClusterArgs(name string, routes []string) []string {
	return []string{
		"--server_name", name,
		"--cluster_name", clusterName,
		"--cluster", "nats://0.0.0.0:6222",
		"--routes", strings.Join(routes, ","),
		"--no_advertise=true",
		"-js", "-sd", "/data/jetstream",
	}
}

// URLs is the client URL list of every server, as a bridge's nats.url.
func (cl *natsCluster) URLs() string {
	urls := make([]string, len(cl.nodes))
	for i, node := range cl.nodes {
		urls[i] = "nats://127.0.0.1:" + strconv.Itoa(node.port)
	}
	return strings.Join(urls, ",")
}

// jetStream connects the test to the cluster (any server, reconnecting to
// the others) for the length of the test.
func (cl *natsCluster) jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(cl.URLs(), nats.Name(t.Name()), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to the cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// node returns the server called name.
func (cl *natsCluster) node(name string) (*natsNode, error) {
	for _, n := range cl.nodes {
		if n.name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no server %q in the cluster", name)
}

// streamLeader names the server that leads stream (NATS's own answer in
// the stream's cluster info).
func streamLeader(ctx context.Context, js jetstream.JetStream, stream string) (string, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return "", fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("stream %s info: %w", stream, err)
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", fmt.Errorf("stream %s has no leader now", stream)
	}
	return info.Cluster.Leader, nil
}

// stop stops the server (SIGTERM, as an orchestrator does).
func (n *natsNode) stop(ctx context.Context) error {
	timeout := 10 * time.Second
	if err := n.c.Stop(ctx, &timeout); err != nil {
		return fmt.Errorf("stop %s: %w", n.name, err)
	}
	return nil
}

// start starts the stopped server again, with its store, and waits for its
// next "ready" line.
func (n *natsNode) start(ctx context.Context) error {
	if err := n.c.Start(ctx); err != nil {
		return fmt.Errorf("start %s again: %w", n.name, err)
	}
	n.runs++
	if err := wait.ForLog(natsReady).WithOccurrence(n.runs).WithStartupTimeout(time.Minute).WaitUntilReady(ctx, n.c); err != nil {
		return fmt.Errorf("%s after restart: %w", n.name, err)
	}
	return nil
}
