package trigger

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/functions"
)

// Tracing (OpenTelemetry). With Options.TracerProvider set, the runtime
// makes, for each message it receives, a consumer span "process <destination>"
// from its receipt until it leaves this process (acked, dead-lettered, given
// back to the broker), with one child span per attempt; and a producer (or
// client) span for every call to an output binding. The trace context comes
// from the message's metadata (W3C traceparent/tracestate: broker headers,
// attributes, a CloudEvents traceparent extension) and goes into every
// output call's metadata, so that the function a message reaches next
// continues the same trace. Without a TracerProvider none of this code runs.
// docs/observability.md lists the spans and their attributes.

const tracerName = "github.com/tetherfn/tether/trigger"

// propagator is the W3C trace context and baggage, as OpenTelemetry's
// default (OTEL_PROPAGATORS=tracecontext,baggage).
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Attribute keys of Tether's own.
const (
	attrFunction      = attribute.Key("tether.function")
	attrBinding       = attribute.Key("tether.binding")
	attrBindingType   = attribute.Key("tether.binding.type")
	attrOperation     = attribute.Key("tether.operation")
	attrAttempt       = attribute.Key("tether.attempt")
	attrAttempts      = attribute.Key("tether.attempts")
	attrDeliveryCount = attribute.Key("tether.delivery.count")
	attrOutcome       = attribute.Key("tether.outcome")
	attrRetryDelay    = attribute.Key("tether.retry.delay")
	attrDeadLetter    = attribute.Key("tether.dead_letter.binding")
)

// messagingSystems maps binding types to OpenTelemetry's messaging.system
// values; other types use their name without "bindings.".
var messagingSystems = map[string]string{
	"bindings.kafka":      "kafka",
	"bindings.aws.sqs":    "aws_sqs",
	"bindings.gcp.pubsub": "gcp_pubsub",
	"bindings.rabbitmq":   "rabbitmq",
	"bindings.nats":       "nats",
	"bindings.redis":      "redis",
	"bindings.mqtt3":      "mqtt",
	"bindings.memory":     "tether_memory",
}

// destinationKeys name the component metadata key holding the destination
// (topic, queue, subject, stream) of each binding type, by direction; a type
// not listed, or a component without the key, uses its component name.
var destinationKeys = map[string][2]string{ // [input, output]
	"bindings.kafka":      {"topics", "publishTopic"},
	"bindings.aws.sqs":    {"queueName", "queueName"},
	"bindings.gcp.pubsub": {"topic", "topic"},
	"bindings.rabbitmq":   {"queueName", "queueName"},
	"bindings.nats":       {"subject", "subject"},
	"bindings.redis":      {"stream", "stream"},
	"bindings.mqtt3":      {"topic", "topic"},
	"bindings.memory":     {"queue", "queue"},
}

// subscriptionKeys name the key of a consumer group or subscription.
var subscriptionKeys = map[string]string{
	"bindings.kafka":      "consumerGroup",
	"bindings.gcp.pubsub": "subscription",
	"bindings.nats":       "durableName",
	"bindings.redis":      "consumerGroup",
}

func messagingSystem(typ string) string {
	if s, ok := messagingSystems[typ]; ok {
		return s
	}
	return strings.TrimPrefix(typ, "bindings.")
}

func destination(c *component.Component, typ string, output bool) string {
	i := 0
	if output {
		i = 1
	}
	if k, ok := destinationKeys[typ]; ok && c != nil {
		if v := c.Metadata[k[i]]; v != "" {
			return v
		}
	}
	if c == nil {
		return ""
	}
	return c.Name
}

// tracer holds what a runtime with tracing needs.
type tracer struct {
	t trace.Tracer

	// Delivery spans of messages held for another attempt in this process
	// (retries the runtime delays itself, ordered retries in place), by
	// message; ended when the message leaves, or at shutdown.
	mu   sync.Mutex
	open map[*bindings.Message]trace.Span
}

func newTracer(tp trace.TracerProvider) *tracer {
	return &tracer{t: tp.Tracer(tracerName), open: make(map[*bindings.Message]trace.Span)}
}

// endAll ends the delivery spans of messages still held when the runtime
// stopped: shutdown gave them back to the broker.
func (t *tracer) endAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for m, s := range t.open {
		s.SetAttributes(attrOutcome.String("abandoned"))
		s.End()
		delete(t.open, m)
	}
}

// Extract returns ctx with the remote span context (and baggage) found in a
// message's metadata: "traceparent" and "tracestate" in any letter case, or
// under a CloudEvents binding's "ce-"/"ce_" prefix. ctx is returned as it is
// when the metadata has none.
func Extract(ctx context.Context, md map[string]string) context.Context {
	if len(md) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, metadataCarrier(md))
}

// Inject returns a copy of md holding the trace context of ctx's span
// ("traceparent", "tracestate" when there is one, "baggage" when ctx has
// some), any other spelling of those keys removed. md itself is not
// changed; without a valid span in ctx, md is returned as it is.
func Inject(ctx context.Context, md map[string]string) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return md
	}
	out := make(map[string]string, len(md)+2)
	for k, v := range md {
		if !isTraceKey(k) {
			out[k] = v
		}
	}
	propagator.Inject(ctx, propagation.MapCarrier(out))
	return out
}

var traceKeys = []string{"traceparent", "tracestate", "baggage"}

func isTraceKey(k string) bool {
	for _, t := range traceKeys {
		if strings.EqualFold(k, t) {
			return true
		}
	}
	return false
}

// metadataCarrier reads a message's metadata for the propagator: keys in
// any letter case (NATS and HTTP headers are canonicalised as
// "Traceparent"), and the CloudEvents binary-mode spellings ("ce-traceparent"
// over HTTP, "ce_traceparent" over Kafka) of the distributed tracing
// extension.
type metadataCarrier map[string]string

func (c metadataCarrier) Get(key string) string {
	if v, ok := c[key]; ok {
		return v
	}
	for k, v := range c {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	for k, v := range c {
		if len(k) == len(key)+3 && (strings.HasPrefix(k, "ce-") || strings.HasPrefix(k, "ce_") ||
			strings.HasPrefix(k, "Ce-") || strings.HasPrefix(k, "Ce_")) && strings.EqualFold(k[3:], key) {
			return v
		}
	}
	return ""
}

func (c metadataCarrier) Set(key, value string) { c[key] = value }

func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// withSpan returns ctx carrying span. The runtime's handler context stays
// the context the rest of the chain sees (Retry and Timeout look for it):
// the span goes into its parent, which only the handler's goroutine reads.
func withSpan(ctx context.Context, span trace.Span) context.Context {
	if hc, ok := ctx.(*handlerContext); ok {
		hc.parent = trace.ContextWithSpan(hc.parent, span)
		return hc
	}
	return trace.ContextWithSpan(ctx, span)
}

// traceMiddleware makes the delivery and attempt spans of one trigger. It
// is the outermost middleware, so that a dead letter or a return binding's
// send is a child of the attempt, and it reads the chain's decision as the
// dispatcher does, to know whether the message leaves this process.
func (t *tracer) middleware(function string, c *component.Component, typ *bindings.Type, policy bindings.DeliveryPolicy) Middleware {
	dest := destination(c, typ.Name, false)
	name := "process " + dest
	base := []attribute.KeyValue{
		semconv.MessagingSystemKey.String(messagingSystem(typ.Name)),
		semconv.MessagingDestinationName(dest),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName("process"),
		attrFunction.String(function),
		attrBinding.String(c.Name),
		attrBindingType.String(typ.Name),
	}
	if k, ok := subscriptionKeys[typ.Name]; ok {
		if v := c.Metadata[k]; v != "" {
			if typ.Name == "bindings.kafka" || typ.Name == "bindings.redis" {
				base = append(base, semconv.MessagingConsumerGroupName(v))
			} else {
				base = append(base, semconv.MessagingDestinationSubscriptionName(v))
			}
		}
	}
	attemptName := "attempt " + function
	ordered := policy.Ordered && typ.Capabilities.Ordering
	delayedNack := typ.Capabilities.DelayedNack
	deadLetter := policy.DeadLetter
	return func(next Handler) Handler {
		return func(ctx context.Context, m *bindings.Message) (Result, error) {
			t.mu.Lock()
			delivery, held := t.open[m]
			delete(t.open, m)
			t.mu.Unlock()
			if !held {
				parent := Extract(context.Background(), m.ReadMetadata())
				attrs := make([]attribute.KeyValue, 0, len(base)+3)
				attrs = append(attrs, base...)
				attrs = append(attrs, semconv.MessagingMessageID(m.ID), semconv.MessagingMessageBodySize(len(m.Data)),
					attrDeliveryCount.Int(max(m.DeliveryCount, 1)))
				_, delivery = t.t.Start(parent, name, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
			}
			d := functions.FromContext(ctx)
			attempt := max(m.DeliveryCount, 1)
			if d != nil {
				attempt = d.Attempt
			}
			_, span := t.t.Start(trace.ContextWithSpan(context.Background(), delivery), attemptName,
				trace.WithAttributes(attrAttempt.Int(attempt)))
			ctx = withSpan(ctx, span)
			if d != nil {
				l := d.Logger
				if l == nil {
					l = slog.Default().With("function", d.Function, "binding", d.Binding)
				}
				d.Logger = slog.New(&traceLogHandler{Handler: l.Handler(), sc: span.SpanContext()})
			}

			res, err := next(ctx, m)

			dec := Decide(err)
			outcome := dec.Action.String()
			span.SetAttributes(attrOutcome.String(outcome))
			if err != nil && dec.Action != Abandoned {
				cause := dec.Err
				if cause == nil {
					cause = err
				}
				span.RecordError(cause)
				span.SetStatus(codes.Error, cause.Error())
			}
			stays := false
			switch dec.Action {
			case RetryLater:
				span.SetAttributes(attrRetryDelay.Float64(dec.Delay.Seconds()))
				stays = ordered || (!delayedNack && (dec.Delay > 0 || !isRetry(err)))
			case DeadLettered:
				span.SetAttributes(attrDeadLetter.String(deadLetter))
			case Exhausted:
				// To the broker's dead letter, or kept: the delivery ends
				// here even where the message is kept in this process (it
				// comes back as a new delivery).
				span.SetAttributes(attrRetryDelay.Float64(dec.Delay.Seconds()))
			}
			span.End()
			if stays {
				t.mu.Lock()
				t.open[m] = delivery
				t.mu.Unlock()
				return res, err
			}
			delivery.SetAttributes(attrOutcome.String(outcome), attrAttempts.Int(attempt))
			if dec.Action != Acked && dec.Action != Abandoned {
				delivery.SetStatus(codes.Error, outcome)
			}
			delivery.End()
			return res, err
		}
	}
}

// tracedOutput makes a span for every call to an output binding: a producer
// span "send <destination>" for a create on a messaging binding, a client
// span "<operation> <component>" otherwise. The call's metadata carries the
// span's trace context on, in a copy of the caller's map.
type tracedOutput struct {
	bindings.Output
	t         trace.Tracer
	messaging bool
	dest      string
	attrs     []attribute.KeyValue
}

func (t *tracer) output(c *component.Component, typ *bindings.Type, out bindings.Output) bindings.Output {
	_, messaging := messagingSystems[typ.Name]
	dest := destination(c, typ.Name, true)
	o := &tracedOutput{Output: out, t: t.t, messaging: messaging, dest: dest}
	o.attrs = []attribute.KeyValue{attrBinding.String(c.Name), attrBindingType.String(typ.Name)}
	if messaging {
		o.attrs = append(o.attrs, semconv.MessagingSystemKey.String(messagingSystem(typ.Name)), semconv.MessagingDestinationName(dest))
	}
	return o
}

// Unwrap returns the traced output, for bindings.Driver.
func (o *tracedOutput) Unwrap() bindings.Output { return o.Output }

func (o *tracedOutput) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	attrs := make([]attribute.KeyValue, 0, len(o.attrs)+4)
	attrs = append(attrs, o.attrs...)
	attrs = append(attrs, attrOperation.String(string(req.Operation)))
	kind, name := trace.SpanKindClient, string(req.Operation)+" "+o.dest
	if o.messaging && req.Operation == bindings.OpCreate {
		kind, name = trace.SpanKindProducer, "send "+o.dest
		attrs = append(attrs, semconv.MessagingOperationTypeSend, semconv.MessagingOperationName(string(req.Operation)),
			semconv.MessagingMessageBodySize(len(req.Data)))
	}
	ctx, span := o.t.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	defer span.End()
	r := *req
	r.Metadata = Inject(ctx, req.Metadata)
	resp, err := o.Output.Invoke(ctx, &r)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return resp, err
	}
	if resp != nil && o.messaging {
		if id := responseID(resp.Metadata); id != "" {
			span.SetAttributes(semconv.MessagingMessageID(id))
		}
	}
	return resp, nil
}

// responseID finds the id a broker gave a sent message in an output's
// response metadata, under the names the drivers use.
func responseID(md map[string]string) string {
	for _, k := range []string{"messageID", "messageId", "id", "sequence", "offset"} {
		if v := md[k]; v != "" {
			return v
		}
	}
	return ""
}

// extractHTTP returns ctx with the trace context of an incoming control API
// request: its traceparent header, else a traceparent in the call's
// metadata.
func extractHTTP(ctx context.Context, h http.Header, md map[string]string) context.Context {
	ctx = propagator.Extract(ctx, propagation.HeaderCarrier(h))
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return Extract(ctx, md)
}

// injectHTTP sets the trace context of ctx's span on h, when there is one.
func injectHTTP(ctx context.Context, h http.Header) bool {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return false
	}
	for _, k := range traceKeys {
		h.Del(k)
	}
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
	return true
}

// traceLogHandler adds trace_id and span_id to each record it handles: to
// each line logged, and only then, rather than formatting them for every
// attempt as Logger.With would.
type traceLogHandler struct {
	slog.Handler
	sc trace.SpanContext
}

func (h *traceLogHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(slog.String("trace_id", h.sc.TraceID().String()), slog.String("span_id", h.sc.SpanID().String()))
	return h.Handler.Handle(ctx, r)
}

func (h *traceLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &traceLogHandler{Handler: h.Handler.WithAttrs(attrs), sc: h.sc}
}

func (h *traceLogHandler) WithGroup(name string) slog.Handler {
	return &traceLogHandler{Handler: h.Handler.WithGroup(name), sc: h.sc}
}
