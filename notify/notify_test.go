package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/lifecycle"
)

// The spec's example
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md),
// as its reference libraries test it.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// testSecret is a valid secret of 32 bytes.
var testSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// verify is a receiver's check, written from the spec's "Verifying
// webhook authenticity": the three headers present, the timestamp within
// the tolerance of now, and one of the space-separated v1 signatures
// equal (in constant time) to HMAC-SHA256 over id.timestamp.body with
// the base64-decoded part of the secret after whsec_.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q: %w", ts, err)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s off now", d)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Split(sigs, " ") {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

func TestSignSpecVector(t *testing.T) {
	keys, err := WebhookConfig{Secret: specSecret}.Secrets()
	if err != nil {
		// The spec's example secret is 24 bytes: the least accepted.
		t.Fatal(err)
	}
	if got := sign(keys, specID, specTimestamp, []byte(specBody)); got != specSignature {
		t.Fatalf("sign = %s, the spec says %s", got, specSignature)
	}
	h := http.Header{}
	h.Set("webhook-id", specID)
	h.Set("webhook-timestamp", strconv.Itoa(specTimestamp))
	h.Set("webhook-signature", specSignature)
	if err := verify(specSecret, h, []byte(specBody), time.Unix(specTimestamp+10, 0)); err != nil {
		t.Fatalf("the test's verifier refuses the spec's example: %v", err)
	}
	if err := verify(specSecret, h, []byte(specBody+" "), time.Unix(specTimestamp, 0)); err == nil {
		t.Fatal("the verifier accepts a changed body")
	}
	// Two secrets (a rotation): either verifies.
	other := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	k2, _ := WebhookConfig{Secret: other}.Secrets()
	h.Set("webhook-signature", sign(append(k2, keys...), specID, specTimestamp, []byte(specBody)))
	for _, s := range []string{specSecret, other} {
		if err := verify(s, h, []byte(specBody), time.Unix(specTimestamp, 0)); err != nil {
			t.Errorf("rotation: %v", err)
		}
	}
}

// receiver is a webhook endpoint that records what it got.
type receiver struct {
	mu   sync.Mutex
	reqs []received
	// status answers the n-th request (from 0); nil answers 200.
	status func(n int) int
	// block, when set, holds every request until it is closed;
	// blockFirst holds the first request only.
	block      chan struct{}
	blockFirst bool
	srv        *httptest.Server
}

type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

func newReceiver(t *testing.T, status func(int) int) *receiver {
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.reqs)
		r.reqs = append(r.reqs, received{header: req.Header.Clone(), body: body, at: time.Now()})
		r.mu.Unlock()
		if r.block != nil && (!r.blockFirst || n == 0) {
			select {
			case <-r.block:
			case <-req.Context().Done():
			}
		}
		code := http.StatusOK
		if r.status != nil {
			code = r.status(n)
		}
		w.WriteHeader(code)
		fmt.Fprint(w, "answer body")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// env is a NATS server with the results stream and a publisher.
type env struct {
	t   *testing.T
	srv *natstest.Server
	js  jetstream.JetStream
	pub *lifecycle.Publisher
	seq atomic.Int64
	reg *prometheus.Registry
}

func newEnv(t *testing.T) *env {
	srv := natstest.Start(t)
	js := srv.JetStream()
	store, err := lifecycle.Open(t.Context(), js, lifecycle.Config{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := lifecycle.OpenPublisher(t.Context(), js, store, lifecycle.ResultsConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, js: js, pub: pub, reg: prometheus.NewRegistry()}
}

// publish publishes the result of one more image and returns its event id.
func (e *env) publish(receiver, namespace string, state lifecycle.State) string {
	e.t.Helper()
	n := e.seq.Add(1)
	r := lifecycle.Record{Key: fmt.Sprintf("%s.app.v%d.d.t", namespace, n), Receiver: receiver, Namespace: namespace,
		Image: "app", Tag: fmt.Sprintf("v%d", n), State: state, Generation: 1, FinishedAt: time.Now().UTC()}
	if err := e.pub.Publish(e.t.Context(), r); err != nil {
		e.t.Fatal(err)
	}
	return lifecycle.EventID(r)
}

func (e *env) start(webhooks ...WebhookConfig) *Notifier {
	e.t.Helper()
	n, err := Start(e.t.Context(), e.js, Config{Webhooks: webhooks},
		Options{Registry: e.reg, Backoff: Backoff{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { n.Shutdown(context.Background()) })
	return n
}

// settled waits until the webhook's consumer has acknowledged (or given
// up) every event in the stream: what it will send, it has sent.
func (e *env) settled(name string) {
	e.t.Helper()
	last := uint64(e.seq.Load())
	natstest.Eventually(e.t, 20*time.Second, "webhook "+name+" settled", func() bool {
		c, err := e.js.Consumer(context.Background(), lifecycle.DefaultResultsStream, ConsumerPrefix+name)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.AckFloor.Stream >= last && info.NumAckPending == 0 && info.NumPending == 0
	})
}

func hookTo(name string, r *receiver, m Match) WebhookConfig {
	return WebhookConfig{Name: name, URL: r.srv.URL + "/hook/secret-path", AllowHTTP: true, Secret: testSecret, Match: m,
		Headers: []Header{{Name: "X-Team", Value: "platform"}}}
}

func TestDeliversSignedEventsToMatchingWebhooks(t *testing.T) {
	e := newEnv(t)
	all, team, none := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	e.start(
		hookTo("all", all, Match{}),
		hookTo("team", team, Match{Namespaces: []string{"team-*"}, Results: []string{"scanned", "given_up"}}),
		hookTo("none", none, Match{Receivers: []string{"harbor"}}),
	)
	id1 := e.publish("swr", "team-a", lifecycle.Scanned)
	e.publish("swr", "ops", lifecycle.Scanned)
	e.publish("swr", "team-b", lifecycle.ScanFailed)
	for _, name := range []string{"all", "team", "none"} {
		e.settled(name)
	}
	if n := len(all.got()); n != 3 {
		t.Errorf("webhook without match got %d events, want 3", n)
	}
	if n := len(none.got()); n != 0 {
		t.Errorf("webhook of another receiver got %d events, want 0", n)
	}
	got := team.got()
	if len(got) != 1 {
		t.Fatalf("team-* scanned/given_up webhook got %d events, want 1", len(got))
	}
	r := got[0]
	if err := verify(testSecret, r.header, r.body, time.Now()); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if r.header.Get("webhook-id") != id1 || r.header.Get("Content-Type") != "application/cloudevents+json; charset=utf-8" ||
		r.header.Get("X-Team") != "platform" {
		t.Errorf("headers: %v", r.header)
	}
	var ev lifecycle.Event
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != id1 || ev.Type != lifecycle.TypeScanned || ev.Data.Namespace != "team-a" || ev.SpecVersion != "1.0" {
		t.Errorf("event: %+v", ev)
	}
	if v := testutil.ToFloat64(mustCounter(e, "team", "delivered")); v != 1 {
		t.Errorf("delivered metric of team = %v, want 1", v)
	}
}

func mustCounter(e *env, webhook, result string) prometheus.Collector {
	d, _ := metrics(e.reg)
	return d.WithLabelValues(webhook, result)
}

func TestRetriesUntilDelivered(t *testing.T) {
	e := newEnv(t)
	flaky := newReceiver(t, func(n int) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	e.start(hookTo("flaky", flaky, Match{}))
	id := e.publish("swr", "team-a", lifecycle.Scanned)
	e.settled("flaky")
	got := flaky.got()
	if len(got) != 3 {
		t.Fatalf("got %d attempts, want 3 (500, 500, 200)", len(got))
	}
	for i, r := range got {
		if r.header.Get("webhook-id") != id {
			t.Errorf("attempt %d: webhook-id %q, want the event id %q on every attempt", i, r.header.Get("webhook-id"), id)
		}
		if err := verify(testSecret, r.header, r.body, time.Now()); err != nil {
			t.Errorf("attempt %d: %v", i, err)
		}
	}
	for result, want := range map[string]float64{"delivered": 1, "retry": 2, "given_up": 0} {
		if v := testutil.ToFloat64(mustCounter(e, "flaky", result)); v != want {
			t.Errorf("%s = %v, want %v", result, v, want)
		}
	}
}

func TestGivesUpOnAClientError(t *testing.T) {
	e := newEnv(t)
	bad := newReceiver(t, func(int) int { return http.StatusBadRequest })
	e.start(hookTo("bad", bad, Match{}))
	e.publish("swr", "team-a", lifecycle.Scanned)
	e.settled("bad")
	if n := len(bad.got()); n != 1 {
		t.Errorf("a 400 was tried %d times, want once", n)
	}
	if v := testutil.ToFloat64(mustCounter(e, "bad", "given_up")); v != 1 {
		t.Errorf("given_up = %v, want 1", v)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	e := newEnv(t)
	down := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	w := hookTo("down", down, Match{})
	w.MaxAttempts = 3
	e.start(w)
	e.publish("swr", "team-a", lifecycle.Scanned)
	e.settled("down")
	if n := len(down.got()); n != 3 {
		t.Errorf("tried %d times, want max_attempts 3", n)
	}
	if v := testutil.ToFloat64(mustCounter(e, "down", "given_up")); v != 1 {
		t.Errorf("given_up = %v, want 1", v)
	}
}

func TestASlowWebhookHoldsUpNoOther(t *testing.T) {
	e := newEnv(t)
	slow := newReceiver(t, nil)
	slow.block = make(chan struct{})
	fast := newReceiver(t, nil)
	s := hookTo("slow", slow, Match{})
	s.MaxInFlight = 1
	s.Timeout = MaxTimeout
	e.start(s, hookTo("fast", fast, Match{}))
	// Registered last, run first: before the notifier's Shutdown and the
	// server's Close, which wait for the held request.
	t.Cleanup(func() { close(slow.block) })
	for range 5 {
		e.publish("swr", "team-a", lifecycle.Scanned)
	}
	e.settled("fast")
	if n := len(fast.got()); n != 5 {
		t.Errorf("fast webhook got %d events, want 5", n)
	}
	if n := len(slow.got()); n != 1 {
		t.Errorf("slow webhook with max_in_flight 1 has %d requests open, want 1", n)
	}
}

func TestARestartDoesNotResend(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, nil)
	n1 := e.start(hookTo("ci", r, Match{}))
	id1 := e.publish("swr", "team-a", lifecycle.Scanned)
	e.settled("ci")
	n1.Shutdown(context.Background())
	// Published while no notifier runs: the durable consumer keeps it.
	id2 := e.publish("swr", "team-a", lifecycle.ScanFailed)
	e.start(hookTo("ci", r, Match{}))
	e.settled("ci")
	got := r.got()
	if len(got) != 2 || got[0].header.Get("webhook-id") != id1 || got[1].header.Get("webhook-id") != id2 {
		ids := []string{}
		for _, g := range got {
			ids = append(ids, g.header.Get("webhook-id"))
		}
		t.Fatalf("got %v, want [%s %s]", ids, id1, id2)
	}
}

// TestErrorsCarryNoURLOrSecret: a chat webhook's URL is its credential;
// a failed attempt's error must not quote it.
func TestErrorsCarryNoURLOrSecret(t *testing.T) {
	w := WebhookConfig{Name: "chat", URL: "http://127.0.0.1:1/services/T0/B0/SECRETPATH?token=QUERYSECRET", AllowHTTP: true,
		Secret: testSecret}.withDefaults()
	keys, err := w.Secrets()
	if err != nil {
		t.Fatal(err)
	}
	h := &hook{cfg: w, keys: keys, client: newClient(w)}
	a, _ := h.post(t.Context(), "id", []byte("{}"))
	if a.err == nil {
		t.Fatal("a post to a closed port succeeded")
	}
	for _, s := range []string{"SECRETPATH", "QUERYSECRET", strings.TrimPrefix(testSecret, "whsec_")} {
		if strings.Contains(a.err.Error(), s) {
			t.Errorf("error %q quotes %s", a.err, s)
		}
	}
}

func TestRedirectsAreNotFollowedElsewhere(t *testing.T) {
	other := newReceiver(t, nil)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.srv.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	w := WebhookConfig{Name: "r", URL: redirect.URL, AllowHTTP: true, Secret: testSecret}.withDefaults()
	keys, _ := w.Secrets()
	h := &hook{cfg: w, keys: keys, client: newClient(w)}
	a, _ := h.post(t.Context(), "id", []byte("{}"))
	if a.status != http.StatusTemporaryRedirect || len(other.got()) != 0 {
		t.Fatalf("status %d, other host got %d requests; want 307 unfollowed", a.status, len(other.got()))
	}
	if act, _, _ := decide(a, time.Now(), time.Now(), 1, time.Hour, 0, DefaultBackoff, jitter); act != giveUp {
		t.Errorf("an unfollowed redirect is %v, want given up", act)
	}
}

// withDefaults fills one webhook as Config.WithDefaults does.
func (w WebhookConfig) withDefaults() WebhookConfig {
	return Config{Webhooks: []WebhookConfig{w}}.WithDefaults().Webhooks[0]
}

// TestShutdownHandsACutDeliveryBack: a delivery still running when the
// shutdown's grace ends is cancelled and its event goes back to the
// stream; the next notifier sends it.
func TestShutdownHandsACutDeliveryBack(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, nil)
	r.block, r.blockFirst = make(chan struct{}), true
	t.Cleanup(func() { close(r.block) })
	w := hookTo("ci", r, Match{})
	w.Timeout = MaxTimeout
	n1 := e.start(w)
	id := e.publish("swr", "team-a", lifecycle.Scanned)
	natstest.Eventually(t, 20*time.Second, "the first attempt is under way", func() bool { return len(r.got()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	n1.Shutdown(ctx) // returns once the cut delivery gave its event back
	e.start(w)
	e.settled("ci")
	got := r.got()
	if len(got) != 2 || got[1].header.Get("webhook-id") != id {
		t.Fatalf("got %d requests, want the cut one and its resend with id %s", len(got), id)
	}
	if v := testutil.ToFloat64(mustCounter(e, "ci", "retry")) + testutil.ToFloat64(mustCounter(e, "ci", "given_up")); v != 0 {
		t.Errorf("a cut delivery counted as a failure: %v", v)
	}
}
