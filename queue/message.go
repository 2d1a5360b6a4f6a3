package queue

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// message is the part of a delivered JetStream message the batcher uses.
// It is an interface so the batching logic runs in tests without NATS; its
// ack semantics are those of jetstream.Msg: Ack, Nak, NakWithDelay and Term
// settle the message (the first one wins), InProgress resets its AckWait
// and may be sent any number of times.
type message interface {
	Data() []byte
	// Delivery is what the server told about this delivery.
	Delivery() delivery
	Ack() error
	Nak() error
	NakWithDelay(delay time.Duration) error
	InProgress() error
	TermWithReason(reason string) error
}

// delivery is the JetStream metadata of one delivery of a stored job.
type delivery struct {
	Subject      string
	MsgID        string    // Nats-Msg-Id header, when the publisher set one
	Stream       string    // stream the job is stored on
	StreamSeq    uint64    // its sequence there: stable across redeliveries
	NumDelivered uint64    // 1 on the first delivery
	Stored       time.Time // when the stream stored it: first seen
	// Background: fetched by the background lanes' consumer, so held in
	// their room (batcher.free).
	Background bool
}

// jsMessage adapts a jetstream.Msg, reading its metadata once.
type jsMessage struct {
	jetstream.Msg
	d delivery
}

func wrapJS(m jetstream.Msg) *jsMessage {
	d := delivery{Subject: m.Subject(), MsgID: m.Headers().Get(jetstream.MsgIDHeader), NumDelivered: 1}
	// Metadata fails only for a message that did not come from a
	// consumer; keep the defaults then rather than dropping the message.
	if md, err := m.Metadata(); err == nil {
		d.Stream = md.Stream
		d.StreamSeq = md.Sequence.Stream
		d.NumDelivered = md.NumDelivered
		d.Stored = md.Timestamp
	}
	return &jsMessage{Msg: m, d: d}
}

func (m *jsMessage) Delivery() delivery { return m.d }
