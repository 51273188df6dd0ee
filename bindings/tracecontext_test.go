package bindings_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/tetherfn/tether/bindings"
)

func TestSetTraceContext(t *testing.T) {
	got := map[string]string{}
	set := func(k, v string) { got[k] = v }
	bindings.SetTraceContext(context.Background(), set)
	if len(got) != 0 {
		t.Errorf("without a span: wrote %v", got)
	}
	ts, _ := trace.ParseTraceState("vendor=1")
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x0a, 0xf7, 1}, SpanID: trace.SpanID{0xb7, 2}, TraceFlags: trace.FlagsSampled, TraceState: ts,
	})
	bindings.SetTraceContext(trace.ContextWithSpanContext(context.Background(), sc), set)
	if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; got["traceparent"] != want || got["tracestate"] != "vendor=1" {
		t.Errorf("wrote %v; want traceparent %s and tracestate vendor=1", got, want)
	}
}
