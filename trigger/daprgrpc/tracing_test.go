package daprgrpc_test

import (
	"context"
	"testing"

	dapr "github.com/dapr/go-sdk/client"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc/metadata"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/trigger"
)

// TestInvokeBindingTraceContext: with tracing on, an InvokeBinding call's
// span is a child of the traceparent in the call's gRPC metadata, and the
// message sent carries the call's span as its traceparent.
func TestInvokeBindingTraceContext(t *testing.T) {
	out := queue(t, "out")
	set := bindingtest.LoadComponents(t, memoryComponent("shipments", out, "output"))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	rt, err := trigger.New(trigger.Options{Components: set, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(ctx)
	t.Setenv("DAPR_API_TOKEN", "")
	client, err := dapr.NewClientWithAddress(start(t, rt))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "probe", Type: "bindings.memory", Metadata: map[string]string{"queue": out}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()

	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	cctx := metadata.AppendToOutgoingContext(ctx, "traceparent", parent)
	if _, err := client.InvokeBinding(cctx, &dapr.InvokeBindingRequest{Name: "shipments", Operation: "create", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "send "+out {
		t.Fatalf("spans: %v; want the call's send span", spans)
	}
	s := spans[0]
	if s.SpanContext().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || s.Parent().SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("the call's span is in trace %s with parent %s; want the gRPC metadata's", s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	msgs, err := in.Receive(ctx, 1)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %v, %d", err, len(msgs))
	}
	want := "00-" + s.SpanContext().TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-01"
	if got := msgs[0].ReadMetadata()["traceparent"]; got != want {
		t.Errorf("the message sent carries traceparent %q; want the call's span, %q", got, want)
	}
}
