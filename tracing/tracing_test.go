package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/scan-bridge/scan-bridge/tracing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The decision is the environment's; only what the bridge cannot do is an
// error, and it names the variable.
func TestSetupReadsTheStandardEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		err  string // "" and on=false: stays off
	}{
		{name: "nothing set: off", env: nil},
		{name: "sdk disabled wins", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "exporter none wins over an endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"},
			err: `OTEL_TRACES_EXPORTER="zipkin": the bridge exports traces with otlp only; use otlp or none`},
		{name: "unknown protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "udp"},
			err: `OTEL_EXPORTER_OTLP_PROTOCOL="udp": use http/protobuf, http/json or grpc`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := otel.GetTracerProvider()
			shutdown, err := tracing.Setup(t.Context(), tracing.Options{Getenv: env(tt.env)})
			if got := errString(err); got != tt.err {
				t.Fatalf("error %q, want %q", got, tt.err)
			}
			if tracing.Enabled() || otel.GetTracerProvider() != before {
				t.Fatal("tracing turned on")
			}
			if err := shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// collector is an OTLP/HTTP endpoint that keeps the service.name of each
// exported resource.
type collector struct {
	mu       sync.Mutex
	services []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				c.services = append(c.services, kv.GetValue().GetStringValue())
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(b)
}

// On, a span reaches the OTLP endpoint by the time shutdown returns, under
// the default service name unless the standard variables change it. The
// exporter reads OTEL_EXPORTER_OTLP_* itself, so these set the real
// environment (not parallel).
func TestSetupExportsOverOTLPHTTP(t *testing.T) {
	tests := []struct {
		name, service string
		env           map[string]string
	}{
		{name: "default name", service: "scan-bridge", env: map[string]string{}},
		{name: "OTEL_SERVICE_NAME", service: "bridge-eu", env: map[string]string{"OTEL_SERVICE_NAME": "bridge-eu"}},
		{name: "OTEL_RESOURCE_ATTRIBUTES", service: "bridge-us", env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=bridge-us,deployment.environment=test"}},
		{name: "traces endpoint and exporter", service: "scan-bridge", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{}
			srv := httptest.NewServer(c)
			defer srv.Close()
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			shutdown, err := tracing.Setup(t.Context(), tracing.Options{Version: "1.2.3"})
			if err != nil {
				t.Fatal(err)
			}
			if !tracing.Enabled() {
				t.Fatal("tracing is off")
			}
			_, span := tracing.Tracer().Start(context.Background(), "test")
			span.End()
			if err := shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			if tracing.Enabled() {
				t.Fatal("tracing still on after shutdown")
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.services) != 1 || c.services[0] != tt.service {
				t.Fatalf("exported service names %q, want [%s]", c.services, tt.service)
			}
		})
	}
}

func TestInstallAndUninstall(t *testing.T) {
	uninstall := tracing.Install(noop.NewTracerProvider())
	if !tracing.Enabled() {
		t.Fatal("Install left tracing off")
	}
	uninstall()
	if tracing.Enabled() {
		t.Fatal("uninstall left tracing on")
	}
}
