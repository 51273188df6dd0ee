package trigger_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/memory"
	natsbinding "github.com/tetherfn/tether/bindings/nats"
	_ "github.com/tetherfn/tether/bindings/rabbitmq"
	_ "github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/trigger"
)

func brokerURL(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

// TestTracingAcrossBrokers runs a two-function pipeline on two real
// brokers, each function in a runtime of its own with its own tracer
// provider (as two processes exporting to one collector): a sender puts a
// message on NATS JetStream; function "pick" takes it and returns a result
// to a Redis stream; function "pack" takes that entry (failing its first
// attempt) and returns a result to a memory queue. The spans make one trace:
//
//	send from test
//	└ process <nats subject>            pick's delivery (consumer)
//	  └ attempt pick
//	    └ send <redis stream>           pick's output (producer)
//	      └ process <redis stream>      pack's delivery (consumer)
//	        ├ attempt pack              outcome retry
//	        └ attempt pack              outcome acked
//	          └ send <memory queue>
func TestTracingAcrossBrokers(t *testing.T) {
	natsURL := brokerURL("TETHER_TEST_NATS_URL", "nats://127.0.0.1:4222")
	redisAddr := brokerURL("TETHER_TEST_REDIS_ADDR", "127.0.0.1:6379")
	ctx := context.Background()
	stream, subject := bindingtest.Unique("TRACE"), bindingtest.Unique("trace.orders")
	redisStream, done := bindingtest.Unique("trace-picked"), unique(t, "done")
	nc, err := natsgo.Connect(natsURL)
	if err != nil {
		t.Fatalf("NATS at %s: %v", natsURL, err)
	}
	t.Cleanup(nc.Close)
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	t.Cleanup(func() { rdb.Del(context.Background(), redisStream); rdb.Close() })
	t.Cleanup(func() {
		if js, err := jetstream.New(nc); err == nil {
			_ = js.DeleteStream(context.Background(), stream)
		}
	})

	log := newSpanLog()
	provider := func(service string) *sdktrace.TracerProvider {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(log),
			sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))))
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		return tp
	}
	natsComponent := func(direction string) string {
		return bindingtest.ComponentYAML("orders", "bindings.nats", map[string]string{
			"natsURL": natsURL, "stream": stream, "subject": subject, "direction": direction})
	}
	redisComponent := func(direction string) string {
		return bindingtest.ComponentYAML("picked", "bindings.redis", map[string]string{
			"redisHost": redisAddr, "stream": redisStream, "direction": direction,
			"initialInterval": "10ms", "maxAttempts": "3"})
	}
	startWith(t, trigger.Options{
		Components:     loadComponents(t, natsComponent("input"), redisComponent("output")),
		TracerProvider: provider("pick"),
		Functions: []trigger.Function{{Name: "pick", Trigger: "orders", Return: "picked",
			Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
				return trigger.Result{Data: append([]byte("picked "), m.Data...), ContentType: "text/plain"}, nil
			}}},
	})
	var packAttempts atomic.Int32
	startWith(t, trigger.Options{
		Components:     loadComponents(t, redisComponent("input"), memoryComponent("done", done, map[string]string{"direction": "output"})),
		TracerProvider: provider("pack"),
		Functions: []trigger.Function{{Name: "pack", Trigger: "picked", Return: "done",
			Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
				if packAttempts.Add(1) == 1 {
					return trigger.Result{}, errors.New("no box yet")
				}
				return trigger.Result{Data: append([]byte("packed "), m.Data...)}, nil
			}}},
	})

	// The sender: a NATS output opened as any program would, its call
	// carrying the test's span.
	senderTP := provider("sender")
	out, _, err := bindings.OpenOutput(ctx, bindings.Config{Name: "sender", Type: "bindings.nats",
		Metadata: map[string]string{"natsURL": natsURL, "stream": stream, "subject": subject}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	root, md := rootSpan(senderTP)
	if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("order 7"), Metadata: md}); err != nil {
		t.Fatal(err)
	}
	root.End()

	spans := log.await(t, "every span of the pipeline", all("process "+subject, "attempt pick", "send "+redisStream,
		"process "+redisStream, "send "+done))
	one := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		s := named(spans, name)
		if len(s) != 1 {
			t.Fatalf("want one span %q; got %d of the spans:%s", name, len(s), describe(spans))
		}
		return s[0]
	}
	sender := one("send from test")
	pickDelivery, pickAttempt, pickSend := one("process "+subject), one("attempt pick"), one("send "+redisStream)
	packDelivery, packSend := one("process "+redisStream), one("send "+done)
	packAttemptSpans := named(spans, "attempt pack")
	if len(packAttemptSpans) != 2 {
		t.Fatalf("want two attempts of pack under one delivery; got%s", describe(spans))
	}
	wantChild(t, pickDelivery, sender)
	wantChild(t, pickAttempt, pickDelivery)
	wantChild(t, pickSend, pickAttempt)
	wantChild(t, packDelivery, pickSend) // across Redis, from another runtime
	for _, a := range packAttemptSpans {
		wantChild(t, a, packDelivery)
	}
	if got := []string{attr(packAttemptSpans[0], "tether.outcome").AsString(), attr(packAttemptSpans[1], "tether.outcome").AsString()}; got[0] != "retry" || got[1] != "acked" {
		t.Errorf("pack's attempts: outcomes %v; want [retry acked]", got)
	}
	wantChild(t, packSend, packAttemptSpans[1])

	for _, c := range []struct {
		span   sdktrace.ReadOnlySpan
		kind   trace.SpanKind
		system string
		op     string
	}{
		{pickDelivery, trace.SpanKindConsumer, "nats", "process"},
		{pickSend, trace.SpanKindProducer, "redis", "send"},
		{packDelivery, trace.SpanKindConsumer, "redis", "process"},
	} {
		if c.span.SpanKind() != c.kind || attr(c.span, "messaging.system").AsString() != c.system ||
			attr(c.span, "messaging.operation.type").AsString() != c.op {
			t.Errorf("span %q: kind %s, messaging.system %q, messaging.operation.type %q; want %s, %q, %q", c.span.Name(), c.span.SpanKind(),
				attr(c.span, "messaging.system").AsString(), attr(c.span, "messaging.operation.type").AsString(), c.kind, c.system, c.op)
		}
	}
	if id := attr(pickSend, "messaging.message.id").AsString(); id == "" || attr(packDelivery, "messaging.message.id").AsString() != id {
		t.Errorf("the Redis entry id: %q on pick's send, %q on pack's delivery; want the same", id, attr(packDelivery, "messaging.message.id").AsString())
	}
	if got := attr(packDelivery, "tether.attempts").AsInt64(); got != 2 {
		t.Errorf("pack's delivery: tether.attempts = %d; want 2", got)
	}
}

// TestTracingHTTPAndRabbitMQ: a webhook request's traceparent header is the
// parent of the delivery; the function's result goes through RabbitMQ to a
// second function, whose result an HTTP output posts with the traceparent
// header of its send span.
func TestTracingHTTPAndRabbitMQ(t *testing.T) {
	amqpURL := brokerURL("TETHER_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
	queue := bindingtest.Unique("trace-http")
	headers := make(chan http.Header, 1)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(sink.Close)
	log := newSpanLog()
	tp := log.provider(t)
	set := loadComponents(t,
		bindingtest.ComponentYAML("hook", "bindings.http", map[string]string{"direction": "input", "webhookPath": "/hook"}),
		bindingtest.ComponentYAML("jobs", "bindings.rabbitmq", map[string]string{"host": amqpURL, "queueName": queue, "deleteWhenUnused": "true"}),
		bindingtest.ComponentYAML("sink", "bindings.http", map[string]string{"direction": "output", "url": sink.URL}),
	)
	rt := startWith(t, trigger.Options{Components: set, TracerProvider: tp, PublicAddr: "127.0.0.1:0", Functions: []trigger.Function{
		{Name: "hear", Trigger: "hook", Return: "jobs", Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			return trigger.Result{Data: m.Data}, nil
		}},
		{Name: "tell", Trigger: "jobs", Return: "sink", Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			return trigger.Result{Data: m.Data}, nil
		}},
	}})
	root, md := rootSpan(tp)
	root.End()
	req, _ := http.NewRequest(http.MethodPost, "http://"+rt.PublicAddr()+"/hook", strings.NewReader(`{"n":1}`))
	req.Header.Set("Traceparent", md["traceparent"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := <-headers
	spans := log.await(t, "every span of the pipeline", all("process hook", "attempt hear", "send "+queue,
		"process "+queue, "attempt tell", "create sink"))
	one := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		s := named(spans, name)
		if len(s) != 1 {
			t.Fatalf("want one span %q; got %d of the spans:%s", name, len(s), describe(spans))
		}
		return s[0]
	}
	hearDelivery, hearSend := one("process hook"), one("send "+queue)
	tellDelivery, tellAttempt, tellPost := one("process "+queue), one("attempt tell"), one("create sink")
	wantChild(t, hearDelivery, one("send from test"))
	wantChild(t, hearSend, one("attempt hear"))
	wantChild(t, tellDelivery, hearSend) // across RabbitMQ
	wantChild(t, tellPost, tellAttempt)
	if tellPost.SpanKind() != trace.SpanKindClient {
		t.Errorf("the HTTP output's span is %s; want client", tellPost.SpanKind())
	}
	sc := tellPost.SpanContext()
	if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; got.Get("Traceparent") != want {
		t.Errorf("the HTTP output sent traceparent %q; want its span's, %q", got.Get("Traceparent"), want)
	}
}

// TestTracingTypedClient: a typed client that publishes without Invoke
// (nats.Client) still carries the attempt's trace context, so the next
// function's delivery is a child of the attempt.
func TestTracingTypedClient(t *testing.T) {
	natsURL := brokerURL("TETHER_TEST_NATS_URL", "nats://127.0.0.1:4222")
	stream, subject, in := bindingtest.Unique("TYPED"), bindingtest.Unique("typed.out"), unique(t, "in")
	t.Cleanup(func() {
		if nc, err := natsgo.Connect(natsURL); err == nil {
			if js, err := jetstream.New(nc); err == nil {
				_ = js.DeleteStream(context.Background(), stream)
			}
			nc.Close()
		}
	})
	set := loadComponents(t, memoryComponent("in", in, nil),
		bindingtest.ComponentYAML("out", "bindings.nats", map[string]string{"natsURL": natsURL, "stream": stream, "subject": subject}))
	log := newSpanLog()
	var client natsbinding.Client
	startWith(t, trigger.Options{Components: set, TracerProvider: log.provider(t), Functions: []trigger.Function{
		{Name: "pub", Trigger: "in",
			Bind: func(ctx context.Context, o *trigger.Outputs) error { return o.Bind("Out", &client, "out") },
			Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
				_, err := client.Publish(ctx, "", m.Data)
				return trigger.Result{}, err
			}},
		{Name: "sub", Trigger: "out", Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			return trigger.Result{}, nil
		}},
	}})
	memory.Publish(in, &bindings.Message{ID: "m1", Data: []byte("x")})
	spans := log.await(t, "sub's delivery span and pub's attempt", func(s []sdktrace.ReadOnlySpan) bool {
		return len(named(s, "process "+subject)) == 1 && len(named(s, "attempt pub")) == 1
	})
	pub := named(spans, "attempt pub")
	if len(pub) != 1 {
		t.Fatalf("want one attempt of pub; got%s", describe(spans))
	}
	wantChild(t, named(spans, "process "+subject)[0], pub[0])
}
