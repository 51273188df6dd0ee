package trigger_test

import (
	"context"
	"strings"
	"testing"

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
