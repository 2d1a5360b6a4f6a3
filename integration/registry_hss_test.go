package integration

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scan-bridge/scan-bridge/hssclient/hsstest"
)

// The bridge's stream and durable consumer under their default names
// (README, queue.stream.name and queue.consumer.durable).
const (
	jobStream   = "SCANJOBS"
	jobConsumer = "hss-batcher"
)

// TestRegistryToHSS runs the whole path with real programs: a client
// (crane, as a library) pushes to a CNCF distribution registry, which
// notifies the bridge image with its static Authorization header; the
// bridge stores jobs in a NATS JetStream container and calls the fake HSS
// on the loopback. What HSS receives must be exactly one scan per pushed
// tag of a container image: both tags of a digest tagged twice, the tag of
// a multi-arch index once (not its platform manifests, which are pushed by
// digest), nothing for an OCI artifact that is no image, for a push by
// digest only, or for deletes.
func TestRegistryToHSS(t *testing.T) {
	t.Parallel()
	image := bridgeImage(t)
	natsSrv := startNATS(t)
	natsURL := natsSrv.URL(t)
	hss := startFakeHSS(t, 1)
	token := randomToken(t)

	env := hss.env(0)
	maps.Copy(env, fastBridgeEnv())
	maps.Copy(env, map[string]string{
		"BRIDGE_NATS__URL":             natsURL,
		"BRIDGE_RECEIVERS":             receiverJSON("registry", token),
		"BRIDGE_HSS__CALLS_PER_MINUTE": "600",
		"BRIDGE_HSS__BURST":            "50",
	})
	bridge := startHostBridge(t, image, "bridge", env)
	host := startRegistry(t, notifyEndpoint{URL: bridge.URL + "/webhooks/registry", Token: token})

	opts := []crane.Option{crane.WithContext(t.Context()), crane.WithAuth(authn.Anonymous), crane.Insecure}
	ref := func(s string) string { return host + "/" + s }
	app := randomImage(t, false)
	byDigest := randomImage(t, false)
	byDigestRef := ref("team/app@" + digestOf(t, byDigest))

	// Each step is what a user does, with the images HSS must be asked to
	// scan because of it ("namespace/name:tag") and the notifications the
	// registry sends for it, by the bridge's answer.
	type answers struct{ accepted, ignored int }
	steps := []struct {
		name string
		do   func(t *testing.T)
		want []string
		sent answers
	}{
		{
			name: "an image pushed with a tag is scanned",
			do: func(t *testing.T) {
				if err := crane.Push(app, ref("team/app:1.0"), opts...); err != nil {
					t.Fatalf("push: %v", err)
				}
			},
			want: []string{"team/app:1.0"},
			sent: answers{accepted: 1},
		},
		{
			name: "the same digest under a second tag is scanned under that tag too",
			do: func(t *testing.T) {
				if err := crane.Tag(ref("team/app:1.0"), "1.1", opts...); err != nil {
					t.Fatalf("tag: %v", err)
				}
			},
			want: []string{"team/app:1.1"},
			sent: answers{accepted: 1},
		},
		{
			name: "a multi-arch index is scanned once under its tag, its platform manifests not at all",
			do: func(t *testing.T) {
				idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
					mutate.IndexAddendum{Add: randomImage(t, true), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
					mutate.IndexAddendum{Add: randomImage(t, true), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
				)
				dst, err := name.ParseReference(ref("team/multi:2.0"), name.Insecure)
				if err != nil {
					t.Fatal(err)
				}
				if err := remote.WriteIndex(dst, idx, crane.GetOptions(opts...).Remote...); err != nil {
					t.Fatalf("push index: %v", err)
				}
			},
			want: []string{"team/multi:2.0"},
			sent: answers{accepted: 1, ignored: 2},
		},
		{
			name: "an OCI artifact that is no container image (an SBOM) is not scanned",
			do: func(t *testing.T) {
				pushArtifact(t, host, "team/app", "1.0.sbom", opts)
			},
			sent: answers{ignored: 1},
		},
		{
			name: "an image pushed by digest only is not scanned (HSS scans tags)",
			do: func(t *testing.T) {
				if err := crane.Push(byDigest, byDigestRef, opts...); err != nil {
					t.Fatalf("push by digest: %v", err)
				}
			},
			sent: answers{ignored: 1},
		},
		{
			name: "deleting a manifest and a tag scans nothing",
			do: func(t *testing.T) {
				if err := crane.Delete(byDigestRef, opts...); err != nil {
					t.Fatalf("delete manifest: %v", err)
				}
				if err := crane.Delete(ref("team/app:1.1"), opts...); err != nil {
					t.Fatalf("delete tag: %v", err)
				}
			},
			sent: answers{ignored: 2},
		},
		{
			// The registry sends its notifications one at a time, in
			// order, and the bridge answers each only once its jobs are
			// stored. So when this last push reaches HSS every earlier
			// notification has been answered, and once the consumer has
			// nothing pending, nothing more can reach HSS.
			name: "a last tagged push, in another namespace, closes the sequence",
			do: func(t *testing.T) {
				if err := crane.Push(randomImage(t, false), ref("ops/last:1"), opts...); err != nil {
					t.Fatalf("push: %v", err)
				}
			},
			want: []string{"ops/last:1"},
			sent: answers{accepted: 1},
		},
	}
	var want []string
	var sent answers
	for _, s := range steps {
		s.do(t)
		want = append(want, s.want...)
		sent.accepted += s.sent.accepted
		sent.ignored += s.sent.ignored
	}

	ctx := ctxDeadline(t, 2*time.Minute)
	if err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		return slices.Contains(itemNames(hss.Items()), "ops/last:1"), nil
	}); err != nil {
		t.Fatalf("the last push never reached HSS: %v\nHSS got %v, refused %v", err, itemNames(hss.Items()), hss.Refusals())
	}
	nc, err := nats.Connect(natsURL, nats.Name(t.Name()))
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitConsumerSettled(ctx, js); err != nil {
		t.Fatal(err)
	}

	got := itemNames(hss.Items())
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("HSS was asked to scan\n %v\nwant exactly\n %v", got, want)
	}
	for _, it := range hss.Items() {
		if it.Target != (hsstest.Target{Region: testRegion, ProjectID: testProjectID}) || it.ImageType != "private_image" {
			t.Errorf("%s/%s:%s went to %+v as %q, want region %s, project %s, private_image",
				it.Namespace, it.ImageName, it.ImageVersion, it.Target, it.ImageType, testRegion, testProjectID)
		}
	}
	if r := hss.Refusals(); len(r) > 0 {
		t.Errorf("HSS refused %d requests: %+v", len(r), r)
	}
	stream, err := js.Stream(ctx, jobStream)
	if err != nil {
		t.Fatalf("stream %s: %v", jobStream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	// A work-queue stream drops what is acked: its last sequence counts
	// every job ever stored, its message count what is left.
	if info.State.LastSeq != uint64(len(want)) || info.State.Msgs != 0 {
		t.Errorf("the stream stored %d jobs and holds %d, want %d stored (one per scanned tag) and none left",
			info.State.LastSeq, info.State.Msgs, len(want))
	}

	// What the bridge answered the registry, by its own count.
	results, err := bridgeMetrics(ctx, bridge.AdminURL, "scanbridge_webhooks_total")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		result string
		want   int
	}{{"accepted", sent.accepted}, {"ignored", sent.ignored}} {
		if got := results["receiver=registry,result="+c.result]; got != float64(c.want) {
			t.Errorf("the bridge answered %v notifications %q, want %d (all: %v)", got, c.result, c.want, results)
		}
	}
	for k, v := range results {
		if !strings.HasSuffix(k, "result=accepted") && !strings.HasSuffix(k, "result=ignored") && v > 0 {
			t.Errorf("the bridge answered %v notifications with %s; a registry retries those", v, k)
		}
	}
}

// itemNames lists the images HSS was asked to scan as namespace/name:tag.
func itemNames(items []hsstest.Item) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.Namespace+"/"+it.ImageName+":"+it.ImageVersion)
	}
	return out
}

// waitConsumerSettled waits until the bridge's durable consumer has no
// message left to deliver and none delivered and unacknowledged: every
// stored job has been acked (or dead-lettered).
func waitConsumerSettled(ctx context.Context, js jetstream.JetStream) error {
	var last *jetstream.ConsumerInfo
	err := poll(ctx, 200*time.Millisecond, func() (bool, error) {
		cons, err := js.Consumer(ctx, jobStream, jobConsumer)
		if err != nil {
			return false, nil // not there yet, or the cluster is electing: ask again
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return false, nil
		}
		last = info
		return info.NumPending == 0 && info.NumAckPending == 0, nil
	})
	if err != nil {
		if last != nil {
			return fmt.Errorf("consumer %s never settled: %w (last: %d pending, %d ack pending, %d redelivered)",
				jobConsumer, err, last.NumPending, last.NumAckPending, last.NumRedelivered)
		}
		return fmt.Errorf("consumer %s never answered: %w", jobConsumer, err)
	}
	return nil
}

// poll calls cond every interval until it reports true or fails, or ctx is
// done. It waits for a state the test cannot be told about by an event
// (a container's answer, a server's counter), never for time to pass.
func poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// httpClient is the webhook client of the load tests: short time-outs,
// keep-alive, no proxy (every address is on the loopback).
var httpClient = &http.Client{
	Timeout:   15 * time.Second,
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
}
