package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scan-bridge/scan-bridge/scanjob"
)

// The result events.
//
// One CloudEvent (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md)
// per finished lifecycle, in structured mode (the whole event as one JSON
// document, Content-Type application/cloudevents+json), on
// scanbridge.results.<namespace>, stored in the SCANBRIDGE_RESULTS stream
// so a consumer that was down reads what it missed. The event is encoded
// here by hand: the CloudEvents Go SDK is not among the modules this
// build may use, and the structured format is a handful of fixed
// attributes.
//
// Ordering and crashes. Finish first writes the terminal record (the
// compare-and-set decides which replica finished the image), then
// publishes the event, then sets Published on the record. A crash between
// the write and the publish leaves a terminal record with Published false:
// the next Finish of that key, or Republish (which the driver runs at
// start and now and then), publishes it. A crash between the publish and
// the flag publishes the event again; the Nats-Msg-Id (the event id: key,
// state, generation and scan attempts) makes the stream drop the copy
// within its duplicate window, and after it a consumer sees the same event
// id twice. Delivery is at least once, the id is stable: consumers
// deduplicate by id. Read the events through the stream (a JetStream
// consumer on scanbridge.results.>): a plain NATS subscriber also sees
// the copies the stream dropped, since two replicas finishing one image
// at the same moment may both publish.

// Event types.
const (
	TypeScanned    = "scanbridge.image.scanned"
	TypeScanFailed = "scanbridge.image.scan_failed"
	TypeGivenUp    = "scanbridge.image.given_up"
)

// Defaults of ResultsConfig.
const (
	DefaultResultsStream     = "SCANBRIDGE_RESULTS"
	DefaultResultsSubject    = "scanbridge.results"
	DefaultResultsMaxAge     = 7 * 24 * time.Hour
	DefaultResultsMaxBytes   = 256 << 20
	DefaultResultsDuplicates = 10 * time.Minute
	DefaultEventSource       = "urn:scan-bridge"
)

// ResultsConfig says where result events go.
type ResultsConfig struct {
	// Stream stores the events. Default SCANBRIDGE_RESULTS.
	Stream string `json:"stream" yaml:"stream" koanf:"stream"`
	// Subject is the prefix of the event subjects; an event of namespace
	// ns is published on <Subject>.<ns> (the namespace escaped as in keys
	// when it holds a dot). Default scanbridge.results.
	Subject string `json:"subject" yaml:"subject" koanf:"subject"`
	// Replicas of the stream: as the job stream's. Default 1.
	Replicas int `json:"replicas" yaml:"replicas" koanf:"replicas"`
	// MaxAge and MaxBytes bound the stream; past them the oldest events
	// go. Defaults 7 days, 256 MiB.
	MaxAge   time.Duration `json:"max_age" yaml:"max_age" koanf:"max_age"`
	MaxBytes int64         `json:"max_bytes" yaml:"max_bytes" koanf:"max_bytes"`
	// Duplicates is the window in which a republished event (same id) is
	// dropped. Default 10 minutes.
	Duplicates time.Duration `json:"duplicates" yaml:"duplicates" koanf:"duplicates"`
	// Source is the CloudEvents source attribute. Default urn:scan-bridge.
	Source string `json:"source" yaml:"source" koanf:"source"`
}

// WithDefaults fills the zero fields.
func (c ResultsConfig) WithDefaults() ResultsConfig {
	if c.Stream == "" {
		c.Stream = DefaultResultsStream
	}
	if c.Subject == "" {
		c.Subject = DefaultResultsSubject
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultResultsMaxAge
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultResultsMaxBytes
	}
	if c.Duplicates == 0 {
		c.Duplicates = DefaultResultsDuplicates
	}
	if c.Source == "" {
		c.Source = DefaultEventSource
	}
	return c
}

// Validate reports every field out of range.
func (c ResultsConfig) Validate() error {
	var errs []error
	if !validBucket.MatchString(c.Stream) {
		errs = append(errs, fmt.Errorf("stream %q: letters, digits, '-' and '_' only", c.Stream))
	}
	if !validKeyRe.MatchString(c.Subject) {
		errs = append(errs, fmt.Errorf("subject %q: dot-separated tokens of letters, digits and -_ only", c.Subject))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: must be 1 to 5", c.Replicas))
	}
	if c.MaxAge < time.Minute {
		errs = append(errs, fmt.Errorf("max_age %s: must be at least 1m", c.MaxAge))
	}
	if c.MaxBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("max_bytes %d: must be at least 1 MiB (1048576)", c.MaxBytes))
	}
	if c.Duplicates <= 0 || c.Duplicates > c.MaxAge {
		errs = append(errs, fmt.Errorf("duplicates %s: must be positive and at most max_age %s", c.Duplicates, c.MaxAge))
	}
	if c.Source == "" || len(c.Source) > 256 {
		errs = append(errs, fmt.Errorf("source %q: must be 1 to 256 characters", c.Source))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lifecycle results config: %w", err)
	}
	return nil
}

// Publisher publishes the result events of finished lifecycles. Safe for
// concurrent use.
type Publisher struct {
	js    jetstream.JetStream
	store *Store
	cfg   ResultsConfig
	log   *slog.Logger
	// latency is scanbridge_push_to_scanned_seconds; nil without a
	// registry.
	latency *prometheus.HistogramVec
}

// OpenPublisher creates or updates the results stream and returns the
// publisher of store's records. reg receives
// scanbridge_push_to_scanned_seconds (nil: no metric); log may be nil.
func OpenPublisher(ctx context.Context, js jetstream.JetStream, store *Store, cfg ResultsConfig, reg prometheus.Registerer, log *slog.Logger) (*Publisher, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "scan-bridge results: one CloudEvent per finished image",
		Subjects:    []string{cfg.Subject + ".>"},
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    cfg.MaxBytes,
		// Results inform; when the stream is full the oldest go, a new
		// result is never refused.
		Discard:    jetstream.DiscardOld,
		Duplicates: cfg.Duplicates,
		Storage:    jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", cfg.Stream, err)
	}
	p := &Publisher{js: js, store: store, cfg: cfg, log: log.With("component", "lifecycle")}
	if reg != nil {
		p.latency = latencyHistogram(reg)
	}
	return p, nil
}

// Config is the publisher's configuration, defaults filled.
func (p *Publisher) Config() ResultsConfig { return p.cfg }

// Event is a result event, CloudEvents 1.0 in structured JSON.
type Event struct {
	SpecVersion     string     `json:"specversion"`
	ID              string     `json:"id"`
	Source          string     `json:"source"`
	Type            string     `json:"type"`
	Subject         string     `json:"subject"`
	Time            time.Time  `json:"time"`
	DataContentType string     `json:"datacontenttype"`
	Data            ResultData `json:"data"`
}

// ResultData is the data of a result event.
type ResultData struct {
	Key          string         `json:"key"`
	Registry     string         `json:"registry"`
	RegistryHost string         `json:"registry_host,omitempty"`
	Receiver     string         `json:"receiver"`
	Namespace    string         `json:"namespace"`
	Image        string         `json:"image_name"`
	Tag          string         `json:"image_version"`
	Digest       string         `json:"digest,omitempty"`
	InstanceID   string         `json:"instance_id,omitempty"`
	Target       scanjob.Target `json:"target"`
	Status       State          `json:"status"`
	Reason       string         `json:"reason,omitempty"`
	// The scan's findings, from HSS's image list (0 when not scanned).
	Vulnerabilities int64 `json:"vulnerabilities"`
	MaliciousFiles  int64 `json:"malicious_files"`
	UnsafeSettings  int64 `json:"unsafe_settings"`
	ScanAttempts    int   `json:"scan_attempts"`

	PushedAt        time.Time `json:"pushed_at,omitzero"`
	AcceptedAt      time.Time `json:"accepted_at,omitzero"`
	ScanRequestedAt time.Time `json:"scan_requested_at,omitzero"`
	FinishedAt      time.Time `json:"finished_at,omitzero"`

	RequestID  string `json:"request_id,omitempty"`
	JobID      string `json:"job_id,omitempty"`
	LastAnswer Answer `json:"last_answer,omitzero"`
}

// EventID is the id of the result event of r's lifecycle, also its
// Nats-Msg-Id: the same for every publish of one ending, different for
// another lifecycle or attempt of the same image.
func EventID(r Record) string {
	return r.Key + ":" + string(r.State) + ":" + strconv.Itoa(r.Generation) + ":" + strconv.Itoa(r.ScanAttempts)
}

// eventType maps a terminal state to its event type.
func eventType(s State) string {
	switch s {
	case Scanned:
		return TypeScanned
	case ScanFailed:
		return TypeScanFailed
	default:
		return TypeGivenUp
	}
}

// NewEvent is the result event of a terminal record.
func (p *Publisher) NewEvent(r Record) Event {
	return Event{
		SpecVersion: "1.0", ID: EventID(r), Source: p.cfg.Source, Type: eventType(r.State),
		Subject: r.Ref(), Time: r.FinishedAt, DataContentType: "application/json",
		Data: ResultData{
			Key: r.Key, Registry: r.Registry, RegistryHost: r.RegistryHost, Receiver: r.Receiver,
			Namespace: r.Namespace, Image: r.Image, Tag: r.Tag, Digest: r.Digest, InstanceID: r.InstanceID,
			Target: r.Target,
			Status: r.State, Reason: r.Reason,
			Vulnerabilities: r.HSS.Vulnerabilities, MaliciousFiles: r.HSS.MaliciousFiles, UnsafeSettings: r.HSS.UnsafeSettings,
			ScanAttempts: r.ScanAttempts,
			PushedAt:     r.PushedAt, AcceptedAt: r.AcceptedAt, ScanRequestedAt: r.ScanRequestedAt, FinishedAt: r.FinishedAt,
			RequestID: r.RequestID, JobID: r.JobID, LastAnswer: r.LastAnswer,
		},
	}
}

// SubjectOf is the subject of a namespace's result events.
func (p *Publisher) SubjectOf(namespace string) string {
	return p.cfg.Subject + "." + nameToken(namespace)
}

// Publish publishes the result event of a terminal record (it does not
// set Published: Finish and Republish do). A repeated publish of the same
// ending is dropped by the stream within its duplicate window.
func (p *Publisher) Publish(ctx context.Context, r Record) error {
	if !r.State.Terminal() {
		return fmt.Errorf("publish result of %s: state %s is not terminal", r.Key, r.State)
	}
	ev := p.NewEvent(r)
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode result of %s: %w", r.Key, err)
	}
	m := &nats.Msg{Subject: p.SubjectOf(r.Namespace), Header: nats.Header{}, Data: data}
	m.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	ctx, cancel := p.store.opCtx(ctx)
	defer cancel()
	if _, err := p.js.PublishMsg(ctx, m, jetstream.WithMsgID(ev.ID)); err != nil {
		return fmt.Errorf("publish result of %s: %w", r.Key, err)
	}
	return nil
}

// ErrNotTerminal: the callback of Finish left the record in progress.
var ErrNotTerminal = errors.New("finish left the record in progress")

// Finish ends the lifecycle under key: fn sets the terminal state and its
// facts (reason, HSS row, last answer) on the record, Finish writes it
// (Update), publishes the event and marks the record published. If the
// record is terminal already (another replica, or an earlier Finish that
// crashed before publishing), fn is not called and only a missing publish
// is done, so calling Finish twice, or from two replicas at once, ends an
// image once and publishes one event. The push-to-terminal latency is
// observed by the call that made the record terminal.
func (p *Publisher) Finish(ctx context.Context, key string, fn func(*Record)) (Record, error) {
	var finished bool
	rec, err := p.store.Update(ctx, key, func(r *Record) error {
		finished = false
		if r.State.Terminal() {
			return nil
		}
		fn(r)
		if !r.State.Terminal() {
			return fmt.Errorf("finish %s: %w (state %s)", key, ErrNotTerminal, r.State)
		}
		finished = true
		return nil
	})
	if err != nil {
		return rec, err
	}
	if finished {
		p.observe(rec)
	}
	if rec.Published {
		return rec, nil
	}
	return p.publishAndMark(ctx, rec)
}

// publishAndMark publishes rec's event and sets Published, unless the
// record moved on meanwhile (a new lifecycle began).
func (p *Publisher) publishAndMark(ctx context.Context, rec Record) (Record, error) {
	if err := p.Publish(ctx, rec); err != nil {
		return rec, err
	}
	out, err := p.store.Update(ctx, rec.Key, func(r *Record) error {
		if r.State == rec.State && r.Generation == rec.Generation {
			r.Published = true
		}
		return nil
	})
	if err != nil {
		return rec, fmt.Errorf("mark result of %s published: %w", rec.Key, err)
	}
	return out, nil
}

// Republish publishes the events of terminal records whose publish did
// not happen (a crash or a NATS error after the terminal write), and
// returns how many it published. The driver runs it at start and now and
// then; any replica may, the Nats-Msg-Id keeps the events single.
func (p *Publisher) Republish(ctx context.Context) (int, error) {
	var todo []Record
	if _, err := p.store.scan(ctx, ">", func(r Record) bool {
		if r.State.Terminal() && !r.Published {
			todo = append(todo, r)
		}
		return true
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range todo {
		if _, err := p.publishAndMark(ctx, r); err != nil {
			return n, err
		}
		p.log.Info("result event published again", "key", r.Key, "state", r.State)
		n++
	}
	return n, nil
}
