package trigger_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

// TestTracingFromEnv: off unless the environment asks for an exporter or
// for recent spans; OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none win;
// the protocol picks the exporter; what Tether cannot do is an error.
func TestTracingFromEnv(t *testing.T) {
	for _, c := range []struct {
		name     string
		env      map[string]string
		recent   int
		exporter string // "" with on: recent spans only
		on       bool
		err      string
	}{
		{name: "nothing set", env: nil},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true, exporter: "otlp (http/protobuf)"},
		{name: "traces endpoint, grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, on: true, exporter: "otlp (grpc)"},
		{name: "exporter named", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, on: true, exporter: "otlp (grpc)"},
		{name: "none wins", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, recent: 10},
		{name: "disabled wins", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, recent: 10},
		{name: "recent spans only", recent: 10, on: true},
		{name: "console", env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, err: `OTEL_TRACES_EXPORTER="console"`},
		{name: "json", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, err: `OTEL_EXPORTER_OTLP_PROTOCOL="http/json": want grpc or http/protobuf`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := trigger.TracingFromEnv(context.Background(), trigger.TracingSettings{Service: "f", Recent: c.recent,
				Getenv: func(k string) string { return c.env[k] }})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v; want one saying %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tr != nil) != c.on {
				t.Fatalf("tracing on = %v; want %v", tr != nil, c.on)
			}
			if tr == nil {
				return
			}
			defer tr.Shutdown(context.Background())
			if tr.Exporter != c.exporter || (tr.Recent != nil) != (c.recent > 0) {
				t.Errorf("exporter %q, recent spans %v; want %q, %v", tr.Exporter, tr.Recent != nil, c.exporter, c.recent > 0)
			}
		})
	}
}

// TestRunSettingsExportsOTLP: a function run as trigger.Main runs it, with
// only OTEL_EXPORTER_OTLP_ENDPOINT set, sends its spans over OTLP/HTTP to
// that endpoint by the time it exits, under its function's name.
func TestRunSettingsExportsOTLP(t *testing.T) {
	got := make(chan *coltracepb.ExportTraceServiceRequest, 10)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
			return
		}
		got <- &req
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"} {
		t.Setenv(k, "")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)

	q := unique(t, "in")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.yaml"), []byte(memoryComponent("in", q, nil)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := trigger.LoadSettings()
	if err != nil {
		t.Fatal(err)
	}
	s.Components, s.APIPort, s.HTTPPort, s.LogLevel = []string{dir}, 0, "0", "error"
	handled := make(chan struct{})
	s.Beside = func(ctx context.Context, rt *trigger.Runtime) error {
		memory.Publish(q, &bindings.Message{ID: "m1", Data: []byte("x")})
		<-handled
		return nil
	}
	err = trigger.RunSettings(context.Background(), s, trigger.Function{Name: "fn", Trigger: "in",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			close(handled)
			return trigger.Result{}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{} // span name → service.name
	for len(got) > 0 {
		req := <-got
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, kv := range rs.Resource.GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					names[sp.Name] = service
				}
			}
		}
	}
	if names["process "+q] != "fn" || names["attempt fn"] != "fn" {
		t.Errorf("the collector received spans %v; want the delivery and the attempt, of service fn", names)
	}
}
