package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// compose runs one Compose project of deploy/compose.yaml.
type compose struct {
	cmd     []string // "docker compose" or "docker-compose"
	file    string
	project string
	env     []string
}

// composeCommand finds Compose: the docker CLI plugin (v2), or
// docker-compose (v1, as Debian packages it). Without either the test is
// skipped, or fails where Docker is required.
func composeCommand(t *testing.T) []string {
	t.Helper()
	if err := exec.Command("docker", "compose", "version").Run(); err == nil {
		return []string{"docker", "compose"}
	}
	if path, err := exec.LookPath("docker-compose"); err == nil {
		return []string{path}
	}
	if dockerRequired() {
		t.Fatalf("neither `docker compose` nor docker-compose is installed, and Docker tests are required (CI=true or %s=1)", envRequireDocker)
	}
	t.Skip("neither `docker compose` nor docker-compose is installed")
	return nil
}

// run runs a Compose command on the project and returns its output.
func (c *compose) run(ctx context.Context, args ...string) (string, error) {
	all := append(append(c.cmd[1:len(c.cmd):len(c.cmd)], "-f", c.file, "-p", c.project), args...)
	cmd := exec.CommandContext(ctx, c.cmd[0], all...)
	cmd.Env = c.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", strings.Join(c.cmd, " "), strings.Join(args, " "), err, lastLines(out.String(), 30))
	}
	return out.String(), nil
}

// TestComposeUp brings deploy/compose.yaml up as it is, with the images
// built here (the local NATS image for the official one, the bridge image
// of this tree) and the HSS simulator (BRIDGE_DRY_RUN, so nothing leaves
// the machine): three NATS servers form a JetStream cluster, both bridges
// become ready, and each stores a pushed image's job on the replicated
// stream and counts it on its admin port's /metrics. Then `down -v` must
// leave no container, network or volume.
func TestComposeUp(t *testing.T) {
	t.Parallel()
	cli := requireDocker(t)
	bridgeRef := bridgeImage(t)
	natsRef := natsImage.ensure(t)
	c := &compose{
		cmd:     composeCommand(t),
		file:    filepath.Join(deployDir(t), "compose.yaml"),
		project: "scanbridge-" + randomToken(t)[:10],
	}

	// The secrets, as docs/deployment.md tells to write them: readable by
	// the bridge's uid (Compose bind-mounts them as they are).
	secrets := t.TempDir()
	if err := os.Chmod(secrets, 0o755); err != nil {
		t.Fatal(err)
	}
	token := randomToken(t)
	for name, value := range map[string]string{
		"hss_access_key": "SCANBRIDGECOMPOSEAK", "hss_secret_key": randomToken(t), "registry_token": token,
	} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(value), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ports := []int{freeLoopbackPort(t), freeLoopbackPort(t)}
	adminPorts := []int{freeLoopbackPort(t), freeLoopbackPort(t)}
	c.env = append(os.Environ(),
		"DOCKER_HOST="+cli.DaemonHost(),
		"BRIDGE_IMAGE="+bridgeRef,
		"NATS_IMAGE="+natsRef,
		"HSS_PROJECT_ID="+testProjectID,
		"BRIDGE_DRY_RUN=true",
		"SECRETS_DIR="+secrets,
		"BIND_ADDRESS=127.0.0.1",
		"BRIDGE_1_PORT="+strconv.Itoa(ports[0]),
		"BRIDGE_2_PORT="+strconv.Itoa(ports[1]),
		"BRIDGE_1_ADMIN_PORT="+strconv.Itoa(adminPorts[0]),
		"BRIDGE_2_ADMIN_PORT="+strconv.Itoa(adminPorts[1]),
	)

	// The first start of a fresh cluster takes the bridges one or more
	// 30-second rounds (docs/deployment.md): measured 33 s to 125 s.
	ctx := ctxDeadline(t, 5*time.Minute)
	if _, err := c.run(ctx, "config", "-q"); err != nil {
		t.Fatalf("the Compose file does not validate: %v", err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			logs, _ := c.run(dctx, "logs", "--no-color", "--tail", "40")
			t.Logf("compose logs:\n%s", logs)
		}
		if _, err := c.run(dctx, "down", "-v", "--remove-orphans", "-t", "15"); err != nil {
			t.Errorf("compose down: %v", err)
		}
		if left := composeLeftovers(dctx, cli, c.project); left != "" {
			t.Errorf("compose down -v left %s", left)
		}
	})
	start := time.Now()
	if _, err := c.run(ctx, "up", "-d"); err != nil {
		t.Fatal(err)
	}

	for i, port := range ports {
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		name := "bridge-" + strconv.Itoa(i+1)
		if err := poll(ctx, 250*time.Millisecond, func() (bool, error) {
			return probe(ctx, base+"/readyz") == nil, nil
		}); err != nil {
			t.Fatalf("%s never became ready: %v (last: %v)", name, err, probe(ctx, base+"/readyz"))
		}
		body := distPushEnvelope("team/app", name, "sha256:"+strings.Repeat(strconv.Itoa(i+1), 64))
		status, answer, err := postWebhook(ctx, httpClient, base, "registry", token, body)
		if err != nil || status != http.StatusAccepted || len(answer.Jobs) != 1 {
			t.Errorf("%s: push answered %d %+v (%v), want 202 with one stored job", name, status, answer, err)
		}
		// The push is counted on the admin listener, published on the
		// loopback only.
		adminBase := "http://127.0.0.1:" + strconv.Itoa(adminPorts[i])
		accepted, err := bridgeMetrics(ctx, adminBase, "scanbridge_webhooks_total")
		if err != nil || accepted["receiver=registry,result=accepted"] != 1 {
			t.Errorf("%s: /metrics on the admin port: %v (%v), want one accepted webhook", name, accepted, err)
		}
	}
	t.Logf("compose: both bridges ready and storing on the 3-server cluster %s after up", time.Since(start).Round(100*time.Millisecond))
}

// probe GETs url and reports anything but 200.
func probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return nil
}

// composeLeftovers names the containers, networks and volumes of the
// project still on the engine ("" when none).
func composeLeftovers(ctx context.Context, cli *testcontainers.DockerClient, project string) string {
	f := client.Filters{}.Add("label", "com.docker.compose.project="+project)
	var left []string
	var errs []error
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	errs = append(errs, err)
	for _, c := range cs.Items {
		left = append(left, "container "+strings.Join(c.Names, ","))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	errs = append(errs, err)
	for _, n := range ns.Items {
		left = append(left, "network "+n.Name)
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	errs = append(errs, err)
	for _, v := range vs.Items {
		left = append(left, "volume "+v.Name)
	}
	if err := errors.Join(errs...); err != nil {
		left = append(left, "(listing failed: "+err.Error()+")")
	}
	return strings.Join(left, "; ")
}
