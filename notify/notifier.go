package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/lifecycle"
)

// ConsumerPrefix starts the durable consumer name of every webhook.
const ConsumerPrefix = "scanbridge-notify-"

const (
	// maxResponseBytes of a receiver's answer are read (so the
	// connection can be reused) and at most maxLoggedBytes of them logged.
	maxResponseBytes = 4 << 10
	maxLoggedBytes   = 200
	// maxAckPending bounds the events of one webhook delivered and not
	// yet acknowledged, those waiting for a retry included: a receiver
	// that is down holds at most this many, the rest wait in the stream.
	maxAckPending = 256
	// inactive removes the consumer of a webhook no replica has read for
	// as long as the results stream keeps events (a webhook taken out of
	// the configuration).
	inactive = 7 * 24 * time.Hour
)

// Options are the notifier's parts besides its configuration.
type Options struct {
	// Stream and Subject are the results stream and its subject prefix
	// (lifecycle.ResultsConfig); empty takes lifecycle's defaults.
	Stream, Subject string
	// Registry receives the metrics; nil: none.
	Registry prometheus.Registerer
	// Logger; nil discards.
	Logger *slog.Logger
	// Backoff between attempts; zero: DefaultBackoff.
	Backoff Backoff
}

// Notifier delivers result events to the configured webhooks. Start
// starts it, Shutdown stops it.
type Notifier struct {
	hooks   []*hook
	log     *slog.Logger
	backoff Backoff
	// ctx bounds the deliveries: Shutdown cancels it when its grace ends.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// closing is closed when Shutdown begins: no new delivery starts.
	closing   chan struct{}
	closeOnce sync.Once

	deliveries *prometheus.CounterVec
	seconds    *prometheus.HistogramVec
}

// hook is one webhook's running parts.
type hook struct {
	cfg    WebhookConfig
	keys   [][]byte
	client *http.Client
	iter   jetstream.MessagesContext
	sem    chan struct{}
	log    *slog.Logger
}

// Start validates cfg, creates or updates one durable consumer per
// webhook on the results stream and starts delivering. With no webhooks
// it starts nothing and returns a Notifier whose Shutdown does nothing.
// A new webhook's consumer starts at the events published after it was
// created: adding a webhook does not replay the stream's week of results.
func Start(ctx context.Context, js jetstream.JetStream, cfg Config, opts Options) (*Notifier, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Stream == "" {
		opts.Stream = lifecycle.DefaultResultsStream
	}
	if opts.Subject == "" {
		opts.Subject = lifecycle.DefaultResultsSubject
	}
	if opts.Backoff == (Backoff{}) {
		opts.Backoff = DefaultBackoff
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{log: log.With("component", "notify"), backoff: opts.Backoff, closing: make(chan struct{})}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if len(cfg.Webhooks) == 0 {
		return n, nil
	}
	n.deliveries, n.seconds = metrics(opts.Registry)
	for _, w := range cfg.Webhooks {
		h, err := n.open(ctx, js, opts, w)
		if err != nil {
			n.stop()
			return nil, err
		}
		n.hooks = append(n.hooks, h)
	}
	for _, h := range n.hooks {
		n.wg.Go(func() { n.loop(h) })
	}
	return n, nil
}

// open creates the webhook's consumer and client.
func (n *Notifier) open(ctx context.Context, js jetstream.JetStream, opts Options, w WebhookConfig) (*hook, error) {
	keys, err := w.Secrets()
	if err != nil {
		return nil, fmt.Errorf("notify webhook %s: %w", w.Name, err)
	}
	h := &hook{cfg: w, keys: keys, client: newClient(w), sem: make(chan struct{}, w.MaxInFlight),
		log: n.log.With("webhook", w.Name, "host", host(w.URL))}
	if !strings.HasPrefix(w.URL, "https:") && !loopback(w.URL) {
		h.log.Warn("webhook over plain http: events and signatures cross the network in the clear (allow_http)")
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, opts.Stream, jetstream.ConsumerConfig{
		Durable:       ConsumerPrefix + w.Name,
		Description:   "scan-bridge result webhook " + w.Name,
		FilterSubject: opts.Subject + ".>",
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		// A message may wait in the client's buffer for a slot while
		// max_in_flight slow deliveries run, then run its own: two
		// timeouts and a margin, else JetStream would hand it to
		// another replica meanwhile.
		AckWait:           2*w.Timeout + 30*time.Second,
		MaxDeliver:        -1, // max_age and max_attempts decide, and log it
		MaxAckPending:     maxAckPending,
		InactiveThreshold: inactive,
	})
	if err != nil {
		return nil, fmt.Errorf("notify webhook %s: create consumer on stream %s: %w", w.Name, opts.Stream, err)
	}
	if h.iter, err = cons.Messages(jetstream.PullMaxMessages(w.MaxInFlight)); err != nil {
		return nil, fmt.Errorf("notify webhook %s: read consumer: %w", w.Name, err)
	}
	for _, r := range []string{"delivered", "retry", "given_up"} {
		n.deliveries.WithLabelValues(w.Name, r)
	}
	return h, nil
}

// loop hands the webhook's events to at most max_in_flight deliveries.
func (n *Notifier) loop(h *hook) {
	for {
		msg, err := h.iter.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return
		}
		if err != nil {
			// Next reports a missed heartbeat, a lost connection or a
			// deleted consumer and keeps going; it ends only when
			// stopped. A pause keeps a lasting error from spinning.
			h.log.Warn("read result events", "error", err)
			select {
			case <-n.closing:
			case <-time.After(time.Second):
			}
			continue
		}
		select {
		case h.sem <- struct{}{}:
		case <-n.closing:
		}
		select {
		case <-n.closing:
			// Fetched but not begun: back to the stream at once, for
			// another replica or the next start.
			_ = msg.Nak()
			continue
		default:
		}
		n.wg.Go(func() {
			defer func() { <-h.sem }()
			n.handle(h, msg)
		})
	}
}

// handle delivers one event to h, or not, and acknowledges it as decided.
func (n *Notifier) handle(h *hook, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		h.log.Error("result event without JetStream metadata; dropped", "error", err)
		_ = msg.Term()
		return
	}
	var ev lifecycle.Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil || ev.ID == "" {
		h.log.Error("result event unreadable; not sent", "stream_seq", meta.Sequence.Stream, "error", err)
		_ = msg.Term()
		return
	}
	if !h.cfg.Match.matches(ev.Data) {
		_ = msg.Ack()
		return
	}
	began := time.Now()
	a, body := h.post(n.ctx, ev.ID, msg.Data())
	n.seconds.WithLabelValues(h.cfg.Name).Observe(time.Since(began).Seconds())
	if n.ctx.Err() != nil {
		// Shutting down: another replica, or the next start, sends it.
		_ = msg.Nak()
		return
	}
	act, delay, reason := decide(a, time.Now(), meta.Timestamp, meta.NumDelivered, h.cfg.MaxAge, h.cfg.MaxAttempts, n.backoff, jitter)
	log := h.log.With("event_id", ev.ID, "attempt", meta.NumDelivered, "status", a.status)
	if a.err != nil {
		log = log.With("error", a.err)
	}
	if body != "" {
		log = log.With("response", body)
	}
	// Each attempt is counted before its message is settled: the count
	// is what the endpoint answered, and whoever sees the message settled
	// (a test, the next replica) sees it counted.
	switch act {
	case ack:
		n.deliveries.WithLabelValues(h.cfg.Name, "delivered").Inc()
		// DoubleAck waits for the server's word, so a delivered event is
		// not sent again after a restart.
		actx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		defer cancel()
		if err := msg.DoubleAck(actx); err != nil {
			log.Warn("delivered, but the acknowledgement failed: the event may be sent again (same webhook-id)", "ack_error", err)
		}
		log.Debug("result delivered", "seconds", time.Since(began).Seconds())
	case retry:
		n.deliveries.WithLabelValues(h.cfg.Name, "retry").Inc()
		_ = msg.NakWithDelay(delay)
		log.Warn("result delivery failed; retrying", "retry_in", delay.Round(time.Second).String())
	case giveUp:
		n.deliveries.WithLabelValues(h.cfg.Name, "given_up").Inc()
		_ = msg.Term()
		log.Error("result delivery given up", "reason", reason, "age", time.Since(meta.Timestamp).Round(time.Second).String())
	}
}

// post sends one signed attempt. It returns the attempt and the start of
// the response body, cleaned for a log line.
func (h *hook) post(ctx context.Context, id string, body []byte) (attempt, string) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return attempt{err: errors.New("build request: the URL was refused")}, ""
	}
	for _, hd := range h.cfg.Headers {
		req.Header.Set(hd.Name, hd.Value)
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	req.Header.Set("User-Agent", "scan-bridge-notify")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sign(h.keys, id, ts, body))
	resp, err := h.client.Do(req)
	if err != nil {
		return attempt{err: withoutURL(err)}, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	a := attempt{status: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		a.retryAfter = parseRetryAfter(resp.Header)
	}
	if resp.StatusCode >= 300 {
		return a, loggable(b)
	}
	return a, ""
}

// withoutURL drops the URL from a client error: the URL's path or query
// may be the credential (a chat webhook's is).
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// loggable is the start of a response body, one printable line.
func loggable(b []byte) string {
	if len(b) > maxLoggedBytes {
		b = b[:maxLoggedBytes]
	}
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.ToValidUTF8(string(b), "?"))
	return strings.TrimSpace(s)
}

// host is the URL's host for logs (never its path or query).
func host(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}

// newClient is the webhook's HTTP client: every phase bounded by the
// webhook's timeout, TLS 1.2 at least, at most max_in_flight connections,
// and redirects followed only when they keep the host, the scheme and the
// POST (307, 308), so a receiver cannot send the signed event elsewhere.
func newClient(w WebhookConfig) *http.Client {
	return &http.Client{
		Timeout: w.Timeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: w.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   w.Timeout,
			ResponseHeaderTimeout: w.Timeout,
			ForceAttemptHTTP2:     true,
			MaxConnsPerHost:       w.MaxInFlight,
			MaxIdleConnsPerHost:   w.MaxInFlight,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			first := via[0].URL
			if req.URL.Host != first.Host || req.URL.Scheme != first.Scheme || req.Method != http.MethodPost {
				return http.ErrUseLastResponse
			}
			if len(via) >= 3 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// Shutdown stops reading events and waits for the deliveries under way
// until ctx ends; then it cancels them, and their events go back to the
// stream for another replica or the next start.
func (n *Notifier) Shutdown(ctx context.Context) {
	if n == nil {
		return
	}
	n.closeOnce.Do(func() { close(n.closing) })
	for _, h := range n.hooks {
		h.iter.Stop()
	}
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.cancel()
		<-done
	}
	n.stop()
}

// stop releases what open made (the error path of Start, and the end of
// Shutdown).
func (n *Notifier) stop() {
	n.cancel()
	for _, h := range n.hooks {
		h.iter.Stop()
		h.client.CloseIdleConnections()
	}
}

// metrics registers scanbridge_notify_deliveries_total and
// scanbridge_notify_delivery_seconds with reg (nil: unregistered), or
// takes those already registered there (a notifier started again).
func metrics(reg prometheus.Registerer) (*prometheus.CounterVec, *prometheus.HistogramVec) {
	d := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scanbridge_notify_deliveries_total",
		Help: "Result webhook attempts by webhook and result: delivered (2xx), retry (a failure retried later), given_up (a failure past max_age or max_attempts, or a status a retry will not change).",
	}, []string{"webhook", "result"})
	s := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scanbridge_notify_delivery_seconds",
		Help:    "Time of one result webhook attempt, request to response (or failure).",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"webhook"})
	if reg == nil {
		return d, s
	}
	return register(reg, d), register(reg, s)
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("register notify metric: %v", err))
	}
	return c
}
