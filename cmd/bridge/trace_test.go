package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/scan-bridge/scan-bridge/config"
	"github.com/scan-bridge/scan-bridge/handlers"
	"github.com/scan-bridge/scan-bridge/internal/natstest"
	"github.com/scan-bridge/scan-bridge/tracing"
)

// One trace, the whole path in this process: a delivery with a
// traceparent (over HTTP, or over the NATS intake) → its span, a child
// of the sender's → the job stored on JetStream with that span's context
// in its headers → the consumer → the span of the HSS call (the strict
// fake HSS), linked to the delivery's span, and the span that settles
// the call's messages, linked too.
func TestTraceFromDeliveryToHSSCall(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	t.Cleanup(tracing.Install(tp))

	e := newE2E(t, func(c *config.Config) { c.NATS.Intake.Enabled = true })
	nc, err := nats.Connect("", nats.InProcessServer(e.app.ns))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	webhook := func(traceparent string, body string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+e.app.ln.Addr().String()+"/webhooks/harbor", strings.NewReader(body))
		req.Header.Set("Authorization", testToken)
		if traceparent != "" {
			req.Header.Set("traceparent", traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post: %d, want 202", resp.StatusCode)
		}
	}
	intake := func(traceparent string, body string) {
		m := nats.NewMsg("scanbridge.intake.harbor")
		m.Header.Set(handlers.FormatHeader, "job")
		m.Header["traceparent"] = []string{traceparent} // as a NATS instrumentation writes it
		m.Data = []byte(body)
		reply, err := nc.RequestMsg(m, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var ans handlers.NATSAnswer
		if err := json.Unmarshal(reply.Data, &ans); err != nil || ans.Code != http.StatusAccepted {
			t.Fatalf("reply %s (%v), want code 202", reply.Data, err)
		}
	}

	tests := []struct {
		name, traceparent, span string
		send                    func(traceparent, body string)
		body, image             string
	}{
		{name: "webhook with traceparent", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
			span: "webhook harbor", send: webhook, body: harborPush("team", "api", "v1"), image: "team/api:v1"},
		{name: "webhook without traceparent", span: "webhook harbor", send: webhook,
			body: harborPush("team", "web", "v2"), image: "team/web:v2"},
		{name: "nats intake with traceparent", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			span: "nats intake harbor", send: intake,
			body: `{"namespace":"svc","image_name":"worker","image_version":"7.1"}`, image: "svc/worker:7.1"},
	}
	seen := map[trace.SpanID]bool{} // ingress spans of the cases before
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.send(tt.traceparent, tt.body)
			natstest.Eventually(t, 30*time.Second, "the job at HSS", func() bool { return delivered(e.hss)[tt.image] == 1 })

			ingress := onlySpan(t, exp, func(s tracetest.SpanStub) bool {
				return s.Name == tt.span && hasAttr(s.Attributes, "scanbridge.jobs", attribute.IntValue(1)) &&
					!seen[s.SpanContext.SpanID()]
			})
			seen[ingress.SpanContext.SpanID()] = true
			if tt.traceparent != "" {
				parent := trace.SpanContextFromContext(tracing.ExtractHTTP(t.Context(), http.Header{"Traceparent": {tt.traceparent}}))
				if ingress.Parent.SpanID() != parent.SpanID() || ingress.SpanContext.TraceID() != parent.TraceID() || !ingress.Parent.IsRemote() {
					t.Fatalf("%s: parent %v, trace %v; want the sender's %v", tt.span, ingress.Parent.SpanID(), ingress.SpanContext.TraceID(), parent)
				}
			} else if ingress.Parent.IsValid() {
				t.Fatalf("%s: parent %v, want a root span", tt.span, ingress.Parent.SpanID())
			}
			if !hasAttr(ingress.Attributes, "http.response.status_code", attribute.IntValue(http.StatusAccepted)) ||
				!hasAttr(ingress.Attributes, "scanbridge.receiver", attribute.StringValue("harbor")) {
				t.Fatalf("%s: attributes %v", tt.span, ingress.Attributes)
			}

			for _, name := range []string{"hss batch-scan", "queue settle"} {
				// The call's span ends before the settle span starts, and
				// the settle span once the messages are acked: wait for it.
				natstest.Eventually(t, 10*time.Second, name+" linked to "+tt.span, func() bool {
					return len(linkedTo(exp, name, ingress.SpanContext)) == 1
				})
				s := linkedTo(exp, name, ingress.SpanContext)[0]
				if s.Parent.IsValid() {
					t.Fatalf("%s has parent %v; a call of many jobs has links, no parent", name, s.Parent)
				}
				if name == "hss batch-scan" && (s.SpanKind != trace.SpanKindClient ||
					!hasAttr(s.Attributes, "http.response.status_code", attribute.IntValue(http.StatusOK))) {
					t.Fatalf("%s: kind %v, attributes %v", name, s.SpanKind, s.Attributes)
				}
				if name == "queue settle" && !hasAttr(s.Attributes, "scanbridge.outcome", attribute.StringValue("ack")) {
					t.Fatalf("%s: attributes %v", name, s.Attributes)
				}
			}
		})
	}
}

// onlySpan is the one ended span that matches.
func onlySpan(t *testing.T, exp *tracetest.InMemoryExporter, match func(tracetest.SpanStub) bool) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if match(s) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d matching spans, want 1; all: %v", len(found), names(exp.GetSpans()))
	}
	return found[0]
}

// linkedTo are the ended spans named name with a link to sc.
func linkedTo(exp *tracetest.InMemoryExporter, name string, sc trace.SpanContext) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name != name {
			continue
		}
		for _, l := range s.Links {
			if l.SpanContext.TraceID() == sc.TraceID() && l.SpanContext.SpanID() == sc.SpanID() {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func hasAttr(attrs []attribute.KeyValue, key string, v attribute.Value) bool {
	for _, a := range attrs {
		if string(a.Key) == key {
			return a.Value == v
		}
	}
	return false
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}
