package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// Bridges in these tests run on the host network, so every byte they send
// or receive stays on the loopback: webhooks from the test and from the
// registry (itself on the host network), NATS through ports published on
// 127.0.0.1, and HSS calls to the fake HSS, which runs in the test process
// on 127.0.0.1 as httptest does. No bridge-gateway address is dialled.

// The test's HSS project; the fake verifies the bridges' AK/SK
// signatures as HSS's gateway does.
const (
	testRegion    = "cn-north-4"
	testProjectID = "0123456789abcdef0123456789abcdef"
)

// fakeHSS is the strict fake HSS (hssclient/hsstest) on the loopback. It
// accepts one access key per bridge replica, so that its records tell the
// replicas' calls apart: an IAM user may hold two access keys, and HSS's
// limit is per user, so this changes nothing for the limit. The fake never
// throttles here: a test that asserts the bridges' own pacing must see
// every call they make.
type fakeHSS struct {
	*hsstest.Server
	keys []accessKey
}

type accessKey struct{ ak, sk string }

// startFakeHSS starts the fake with keys access keys; it closes with the
// test.
func startFakeHSS(t *testing.T, keys int) *fakeHSS {
	t.Helper()
	h := &fakeHSS{}
	accepted := map[string]hsstest.Key{}
	for i := range keys {
		k := accessKey{ak: fmt.Sprintf("SCANBRIDGETESTAK%04d", i+1), sk: randomToken(t)}
		h.keys = append(h.keys, k)
		accepted[k.ak] = hsstest.Key{SecretKey: k.sk}
	}
	h.Server = hsstest.NewServer(hsstest.Options{AccessKeys: accepted})
	t.Cleanup(h.Server.Close)
	return h
}

// env is what a bridge needs to call this fake with access key i: the
// credentials as the Huawei SDK reads them, the endpoint and the default
// target.
func (h *fakeHSS) env(i int) map[string]string {
	return map[string]string{
		"HUAWEICLOUD_SDK_AK":     h.keys[i].ak,
		"HUAWEICLOUD_SDK_SK":     h.keys[i].sk,
		"BRIDGE_HSS__ENDPOINT":   h.URL,
		"BRIDGE_HSS__REGION":     testRegion,
		"BRIDGE_HSS__PROJECT_ID": testProjectID,
		// The images are in no SWR of the fake: the scan path without
		// the presence gate (scanner/presence.go).
		"BRIDGE_HSS__PRESENCE_CHECK": "false",
	}
}

// identity is how the fake records calls made with access key i.
func (h *fakeHSS) identity(i int) string { return "ak:" + h.keys[i].ak }

// fastBridgeEnv are test timings: a group waits 200 ms for more images
// instead of 5 s, held messages are kept alive every second, retries start
// after half a second, and the bridge stops within 10 s.
func fastBridgeEnv() map[string]string {
	return map[string]string{
		"BRIDGE_LOG__FORMAT":                   "json",
		"BRIDGE_QUEUE__CONSUMER__LINGER":       "200ms",
		"BRIDGE_QUEUE__CONSUMER__HEARTBEAT":    "1s",
		"BRIDGE_QUEUE__CONSUMER__BACKOFF_BASE": "500ms",
		"BRIDGE_QUEUE__CONSUMER__BACKOFF_CAP":  "5s",
		"BRIDGE_HTTP__SHUTDOWN_GRACE":          "10s",
	}
}

// receiverJSON is BRIDGE_RECEIVERS for one distribution receiver named
// name that accepts "Authorization: Bearer <token>".
func receiverJSON(name, token string) string {
	b, _ := json.Marshal([]map[string]any{{
		"name":   name,
		"format": "distribution",
		"auth":   map[string]any{"method": "token", "prefix": "Bearer ", "secrets": []string{token}},
	}})
	return string(b)
}

// hostBridge is a bridge container on the host network.
type hostBridge struct {
	name string
	c    testcontainers.Container
	// URL is http://127.0.0.1:port, where it serves webhooks and probes.
	URL string
	// AdminURL is http://127.0.0.1:port of its admin listener (/metrics).
	AdminURL string
}

// startHostBridge runs the bridge image on the host network listening on a
// free loopback port, and its admin listener on another (on the host
// network the default, 127.0.0.1:9090, would be one port for every
// replica), with env as its BRIDGE_* and SDK settings, and waits
// until /readyz answers 200 (NATS connected, stream reachable). The image's
// HEALTHCHECK is pointed at that port. The container is removed with the
// test; its logs are printed if the test failed.
func startHostBridge(t *testing.T, image, name string, env map[string]string) *hostBridge {
	t.Helper()
	// These tests may send traffic to the loopback only: refuse to give a
	// bridge on the host network any other address to dial.
	for _, key := range []string{"BRIDGE_NATS__URL", "BRIDGE_HSS__ENDPOINT"} {
		if err := onLoopback(env[key]); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	port := freeLoopbackPort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	adminAddr := "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))
	all := maps.Clone(env)
	all["BRIDGE_HTTP__LISTEN"] = addr
	all["BRIDGE_ADMIN__LISTEN"] = adminAddr
	c, err := testcontainers.Run(t.Context(), image,
		testcontainers.WithEnv(all),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
		}),
		testcontainers.WithConfigModifier(func(cfg *container.Config) {
			cfg.Healthcheck = &container.HealthConfig{
				Test:     []string{"CMD", "/bridge", "healthcheck", "--url", "http://" + addr},
				Interval: time.Second, Timeout: 5 * time.Second, Retries: 3,
			}
		}),
		testcontainers.WithWaitStrategy(
			wait.ForHTTP("/readyz").WithPort(strconv.Itoa(port)+"/tcp").WithStartupTimeout(time.Minute),
		),
	)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		logs := ""
		if c != nil {
			logs = lastLines(containerLogs(context.Background(), c), 40)
		}
		t.Fatalf("start bridge %s (%s): %v\n%s", name, image, err, logs)
	}
	b := &hostBridge{name: name, c: c, URL: "http://" + addr, AdminURL: "http://" + adminAddr}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bridge %s logs (last 60 lines):\n%s", name, lastLines(containerLogs(context.Background(), c), 60))
		}
	})
	return b
}

// onLoopback checks that every URL of a comma-separated list (a nats.url,
// an endpoint) names a loopback IP address.
func onLoopback(list string) error {
	for _, raw := range strings.Split(list, ",") {
		if raw = strings.TrimSpace(raw); raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("%q: %w", raw, err)
		}
		ip, err := netip.ParseAddr(u.Hostname())
		if err != nil || !ip.IsLoopback() {
			return fmt.Errorf("%q is not on the loopback", raw)
		}
	}
	return nil
}

// stop stops the bridge as an orchestrator does: SIGTERM, then SIGKILL
// after grace.
func (b *hostBridge) stop(ctx context.Context, grace time.Duration) error {
	if err := b.c.Stop(ctx, &grace); err != nil {
		return fmt.Errorf("stop bridge %s: %w", b.name, err)
	}
	return nil
}

// start starts a stopped bridge again and waits until it is ready.
func (b *hostBridge) start(ctx context.Context) error {
	if err := b.c.Start(ctx); err != nil {
		return fmt.Errorf("start bridge %s again: %w", b.name, err)
	}
	return nil
}

// webhookAnswer is the part of a bridge's answer the tests read.
type webhookAnswer struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
	Jobs   []struct {
		ID        string `json:"id"`
		Image     string `json:"image"`
		Duplicate bool   `json:"duplicate"`
	} `json:"jobs"`
}

// postWebhook sends body to the bridge's receiver as distribution does and
// returns the status and the decoded answer.
func postWebhook(ctx context.Context, client *http.Client, bridgeURL, receiver, token string, body []byte) (int, webhookAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, bridgeURL+"/webhooks/"+receiver, bytes.NewReader(body))
	if err != nil {
		return 0, webhookAnswer{}, err
	}
	req.Header.Set("Content-Type", eventsMediaType)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, webhookAnswer{}, fmt.Errorf("post to %s: %w", bridgeURL, err)
	}
	defer resp.Body.Close()
	var a webhookAnswer
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, a, fmt.Errorf("read answer of %s: %w", bridgeURL, err)
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return resp.StatusCode, a, fmt.Errorf("answer of %s is not JSON (%d): %w: %.200s", bridgeURL, resp.StatusCode, err, data)
	}
	return resp.StatusCode, a, nil
}

// bridgeMetrics reads /metrics on a bridge's admin listener (adminURL)
// and returns the value of each sample of family, keyed by its labels as
// "name=value,..." in label order.
func bridgeMetrics(ctx context.Context, adminURL, family string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s/metrics: %w", adminURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s/metrics: status %d", adminURL, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s/metrics: %w", adminURL, err)
	}
	out := map[string]float64{}
	mf, ok := families[family]
	if !ok {
		return out, nil
	}
	for _, m := range mf.GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		v := m.GetCounter().GetValue()
		if m.GetGauge() != nil {
			v = m.GetGauge().GetValue()
		}
		out[strings.Join(labels, ",")] = v
	}
	return out, nil
}

// distPushEnvelope is a notification as distribution v3 sends it for a
// Docker schema2 image pushed with a tag (the shape of
// testdata/distribution-v3.1.2/push-docker-schema2-tag.json, which was
// captured from the real registry), for load tests that need many
// distinct pushes faster than a registry makes them.
func distPushEnvelope(repository, tag, digest string) []byte {
	event := map[string]any{
		"id":        "load-" + repository + "-" + tag,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"action":    "push",
		"target": map[string]any{
			"mediaType":  "application/vnd.docker.distribution.manifest.v2+json",
			"digest":     digest,
			"size":       423,
			"length":     423,
			"repository": repository,
			"url":        "http://127.0.0.1:5000/v2/" + repository + "/manifests/" + digest,
			"tag":        tag,
			"references": []map[string]any{
				{"mediaType": "application/vnd.docker.container.image.v1+json", "digest": digest, "size": 323},
				{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": digest, "size": 700},
			},
		},
		"request": map[string]any{"id": "req-" + tag, "addr": "127.0.0.1:1", "host": "127.0.0.1:5000", "method": "PUT", "useragent": "integration-test"},
		"actor":   map[string]any{},
		"source":  map[string]any{"addr": "vm:5000", "instanceID": "integration"},
	}
	b, _ := json.Marshal(map[string]any{"events": []any{event}})
	return b
}
