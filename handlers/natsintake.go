package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// NATSIntakeConfig is the intake for internal services that publish push
// events over NATS instead of HTTP. A message on <subject_prefix>.<receiver>
// goes through the same decode, route, validate and store path as a webhook
// to that receiver, and the reply is the same answer with the HTTP status in
// "code". Authentication is NATS's own (accounts and subject permissions
// decide who may publish there), so the receiver's HTTP auth is not applied.
type NATSIntakeConfig struct {
	// Enabled turns the intake on.
	Enabled bool `koanf:"enabled"`
	// SubjectPrefix is followed by the receiver name. Default
	// scanbridge.intake.
	SubjectPrefix string `koanf:"subject_prefix"`
	// QueueGroup shares the subjects between replicas: each message is
	// handled once. Default scan-bridge.
	QueueGroup string `koanf:"queue_group"`
	// MaxInFlight bounds the messages handled at once. Default 64.
	MaxInFlight int `koanf:"max_in_flight"`
	// MaxPendingMessages and MaxPendingBytes bound the messages received
	// and waiting for a handler (the subscription's pending limits). Past
	// either, NATS drops what arrives, reports the subscription a slow
	// consumer, and scanbridge_nats_intake_dropped_total counts the
	// drops: a publisher using request-reply sees a timeout and retries,
	// a fire-and-forget publish is lost. With the defaults, 1024 messages
	// and 8 MiB, a flood holds at most 8 MiB waiting plus MaxInFlight
	// messages in hand, each refused at once when over the receiver's
	// max_body_bytes. No limit, as before, let a flood of large messages
	// (up to the server's max_payload, 1 MiB by default, each) grow the
	// bridge's memory without bound; the client's defaults (500,000
	// messages, 64 MiB) are far more than a few seconds of intake.
	MaxPendingMessages int `koanf:"max_pending_messages"`
	MaxPendingBytes    int `koanf:"max_pending_bytes"`
}

// FormatHeader names, on a NATS message, the payload format when it is not
// the receiver's own: any registered format, or "job" for the normalized
// job schema.
const FormatHeader = "Scan-Bridge-Format"

// NATSAnswer is the reply to a NATS intake message.
type NATSAnswer struct {
	// Code is the HTTP status the same body would have got.
	Code int `json:"code"`
	Answer
}

// WithDefaults fills the zero fields.
func (c NATSIntakeConfig) WithDefaults() NATSIntakeConfig {
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = "scanbridge.intake"
	}
	if c.QueueGroup == "" {
		c.QueueGroup = "scan-bridge"
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 64
	}
	if c.MaxPendingMessages <= 0 {
		c.MaxPendingMessages = 1024
	}
	if c.MaxPendingBytes <= 0 {
		c.MaxPendingBytes = 8 << 20
	}
	return c
}

// NATSIntake is a running NATS intake.
type NATSIntake struct {
	sub  *nats.Subscription
	wg   sync.WaitGroup
	sem  chan struct{}
	stop context.CancelFunc
}

// ServeNATS subscribes to <prefix>.* on nc. Each message is handled in its
// own goroutine (at most MaxInFlight at once) because a store waits for the
// JetStream acknowledgement; NATS delivers a subscription's messages one by
// one, which would serialize those waits.
func (s *Server) ServeNATS(nc *nats.Conn, cfg NATSIntakeConfig) (*NATSIntake, error) {
	cfg = cfg.WithDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	in := &NATSIntake{sem: make(chan struct{}, cfg.MaxInFlight), stop: cancel}
	prefix := cfg.SubjectPrefix + "."
	sub, err := nc.QueueSubscribe(prefix+"*", cfg.QueueGroup, func(m *nats.Msg) {
		name := strings.TrimPrefix(m.Subject, prefix)
		if s.refusedAtOnce(name, m) {
			// Answered here, without a slot: a flood of oversized
			// messages must not hold MaxInFlight of them (up to 1 MiB
			// each) while they wait for a goroutine to say 413, nor
			// slow the reader so the server buffers more for us.
			s.handleNATS(ctx, name, m)
			return
		}
		in.sem <- struct{}{} // back-pressure: stop reading while full
		in.wg.Add(1)
		go func() {
			defer func() { <-in.sem; in.wg.Done() }()
			s.handleNATS(ctx, name, m)
		}()
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe %s*: %w", prefix, err)
	}
	// Bounded, so that a flood costs dropped messages (counted, and
	// reported to the connection's error handler as a slow consumer)
	// rather than memory; see MaxPendingMessages.
	if err := sub.SetPendingLimits(cfg.MaxPendingMessages, cfg.MaxPendingBytes); err != nil {
		cancel()
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("pending limits: %w", err)
	}
	// Flush: the server has the subscription once ServeNATS returns, so a
	// message published right after is not lost for want of a subscriber.
	if err := nc.Flush(); err != nil {
		cancel()
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe %s*: flush: %w", prefix, err)
	}
	in.sub = sub
	s.in.metrics.watchNATSIntake(sub)
	s.opts.Logger.Info("nats intake listening", "subject", prefix+"<receiver>", "queue_group", cfg.QueueGroup,
		"max_pending_messages", cfg.MaxPendingMessages, "max_pending_bytes", cfg.MaxPendingBytes)
	return in, nil
}

// Shutdown stops taking messages and waits for those in hand to be stored
// and answered, or for ctx.
func (in *NATSIntake) Shutdown(ctx context.Context) error {
	err := in.sub.Drain()
	done := make(chan struct{})
	go func() {
		for in.sub.IsValid() {
			time.Sleep(10 * time.Millisecond)
		}
		in.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		in.stop() // cancels stores still waiting
		<-done
		err = errors.Join(err, ctx.Err())
	}
	return err
}

func (s *Server) handleNATS(ctx context.Context, name string, m *nats.Msg) {
	reqID := keptRequestID(fmt.Sprintf("nats-%d", time.Now().UnixNano()), m.Header.Get(nats.MsgIdHdr), m.Header.Get("X-Request-Id"))
	code, ans := s.tracedNATSProcess(ctx, name, m, reqID)
	if m.Reply == "" {
		return // fire-and-forget publish: the answer has nowhere to go
	}
	b, err := json.Marshal(NATSAnswer{Code: code, Answer: ans})
	if err == nil {
		err = m.Respond(b)
	}
	if err != nil {
		s.opts.Logger.Warn("nats intake reply failed", "receiver", name, "request_id", reqID, "error", err)
	}
}

// refusedAtOnce reports whether m is answered without reading it: its
// receiver is unknown or it is over the receiver's body budget.
func (s *Server) refusedAtOnce(name string, m *nats.Msg) bool {
	r, ok := s.snap.Load().receivers[name]
	return !ok || int64(len(m.Data)) > r.maxBody
}

func (s *Server) natsProcess(ctx context.Context, name string, m *nats.Msg, reqID string) (int, Answer) {
	sn := s.snap.Load()
	r, ok := sn.receivers[name]
	if !ok {
		s.in.metrics.webhook("", "unknown_receiver")
		return http.StatusNotFound, Answer{Status: "error", RequestID: reqID, Reason: fmt.Sprintf("no receiver named %q", name)}
	}
	if int64(len(m.Data)) > r.maxBody {
		s.in.metrics.webhook(name, "too_large")
		return http.StatusRequestEntityTooLarge, Answer{Status: "error", Receiver: name, RequestID: reqID,
			Reason: fmt.Sprintf("body is over %d bytes", r.maxBody)}
	}
	if f := m.Header.Get(FormatHeader); f != "" && f != r.cfg.Format {
		alt, err := r.withFormat(f)
		if err != nil {
			return http.StatusBadRequest, Answer{Status: "error", Receiver: name, RequestID: reqID, Reason: err.Error()}
		}
		r = alt
	}
	status, ans, reply := sn.in.process(ctx, r, http.Header(m.Header), m.Data, reqID)
	if reply != nil {
		// Handshakes belong to HTTP senders; over NATS there is nobody
		// to complete one.
		return http.StatusBadRequest, Answer{Status: "error", Receiver: name, RequestID: reqID, Reason: "a subscription handshake is not a push event"}
	}
	return status, ans
}
