package bindings

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// SetTraceContext writes the W3C trace context of the span in ctx, when
// there is one, through set: "traceparent", and "tracestate" when it is not
// empty. The runtime writes it into the metadata of every Invoke itself;
// typed clients that publish without Invoke (nats.Client, rabbitmq.Client,
// sqs.Client) call this, so that the function their message reaches
// continues the trace.
func SetTraceContext(ctx context.Context, set func(key, value string)) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagation.TraceContext{}.Inject(ctx, setCarrier(set))
}

type setCarrier func(key, value string)

func (c setCarrier) Get(string) string     { return "" }
func (c setCarrier) Set(key, value string) { c(key, value) }
func (c setCarrier) Keys() []string        { return nil }
