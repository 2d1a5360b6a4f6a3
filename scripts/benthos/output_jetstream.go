package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redpanda-data/benthos/v4/public/service"
)

// The nats_jetstream output, written against the public plugin API. Its
// fields are named as the distribution's output names them
// (https://docs.redpanda.com/redpanda-connect/components/outputs/nats_jetstream/):
// urls, subject, headers and max_in_flight; tls and auth are left out, the
// benchmark talks to a local nats-server without either. Like the original,
// each message is one synchronous JetStream publish that waits for the
// stream's acknowledgement, and up to max_in_flight of them run at once.
func init() {
	spec := service.NewConfigSpec().
		Summary("Write messages to a NATS JetStream subject, one synchronous publish per message.").
		Field(service.NewStringListField("urls").
			Description("NATS URLs; an item with commas is several URLs.")).
		Field(service.NewInterpolatedStringField("subject").
			Description("The subject to publish to.")).
		Field(service.NewInterpolatedStringMapField("headers").
			Description("Message headers to add.").
			Default(map[string]any{})).
		Field(service.NewIntField("max_in_flight").
			Description("How many publishes may wait for their acknowledgement at once.").
			Default(1024))
	err := service.RegisterOutput("nats_jetstream", spec,
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.Output, int, error) {
			maxInFlight, err := conf.FieldInt("max_in_flight")
			if err != nil {
				return nil, 0, err
			}
			out, err := newJetStreamOutput(conf, mgr.Logger())
			return out, maxInFlight, err
		})
	if err != nil {
		panic(err)
	}
}

type jetStreamOutput struct {
	urls    string
	subject *service.InterpolatedString
	headers map[string]*service.InterpolatedString
	log     *service.Logger

	mu sync.Mutex
	nc *nats.Conn
	js jetstream.JetStream
}

func newJetStreamOutput(conf *service.ParsedConfig, log *service.Logger) (*jetStreamOutput, error) {
	urls, err := conf.FieldStringList("urls")
	if err != nil {
		return nil, err
	}
	if len(urls) == 0 {
		return nil, errors.New("urls: at least one NATS URL is needed")
	}
	o := &jetStreamOutput{urls: strings.Join(urls, ","), log: log}
	if o.subject, err = conf.FieldInterpolatedString("subject"); err != nil {
		return nil, err
	}
	if o.headers, err = conf.FieldInterpolatedStringMap("headers"); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *jetStreamOutput) Connect(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.nc != nil {
		return nil
	}
	nc, err := nats.Connect(o.urls)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", o.urls, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("jetstream: %w", err)
	}
	o.nc, o.js = nc, js
	return nil
}

func (o *jetStreamOutput) Write(ctx context.Context, msg *service.Message) error {
	o.mu.Lock()
	js := o.js
	o.mu.Unlock()
	if js == nil {
		return service.ErrNotConnected
	}
	subject, err := o.subject.TryString(msg)
	if err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	m := nats.NewMsg(subject)
	if m.Data, err = msg.AsBytes(); err != nil {
		return err
	}
	for k, v := range o.headers {
		hv, err := v.TryString(msg)
		if err != nil {
			return fmt.Errorf("header %s: %w", k, err)
		}
		m.Header.Add(k, hv)
	}
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish to %s: %w", subject, err)
	}
	return nil
}

func (o *jetStreamOutput) Close(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.nc != nil {
		o.nc.Close()
		o.nc, o.js = nil, nil
	}
	return nil
}
