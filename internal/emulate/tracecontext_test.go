package emulate

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/kafka"
	"github.com/tetherfn/tether/bindings/mqtt"
	"github.com/tetherfn/tether/bindings/nats"
	"github.com/tetherfn/tether/bindings/pubsub"
	"github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/bindings/sqs"
	"github.com/tetherfn/tether/trigger"
)

// TestTraceContextCrossesEachBroker sends a message whose metadata holds a
// W3C traceparent and tracestate (as the runtime's traced outputs write
// them) through each emulated broker's output and input drivers, and reads
// the same span context back out of the received message's metadata (as the
// runtime's delivery span does). MQTT 3.1.1 has no headers: nothing crosses
// it, and the test holds that to keep docs/observability.md true.
func TestTraceContextCrossesEachBroker(t *testing.T) {
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, c := range []struct {
		typ     string
		dest    func(name string) map[string]string
		carries bool
	}{
		{kafka.TypeName, func(n string) map[string]string {
			return map[string]string{"brokers": "unused:9092", "topics": n, "publishTopic": n, "consumerGroup": n, "initialOffset": "oldest"}
		}, true},
		{pubsub.TypeName, func(n string) map[string]string { return map[string]string{"topic": n, "subscription": n + "-sub"} }, true},
		{nats.TypeName, func(n string) map[string]string {
			return map[string]string{"natsURL": "nats://unused:4222", "stream": "TETHER_" + n, "subject": "tether." + n}
		}, true},
		{redis.TypeName, func(n string) map[string]string { return map[string]string{"redisHost": "unused:6379", "stream": n} }, true},
		{sqs.TypeName, func(n string) map[string]string { return map[string]string{"queueName": n} }, true},
		{mqtt.TypeName, func(n string) map[string]string {
			return map[string]string{"url": "tcp://unused:1883", "topic": "tether/" + n, "consumerID": n, "qos": "1"}
		}, false},
	} {
		t.Run(c.typ, func(t *testing.T) {
			md := config(c.typ, c.dest).Metadata(t)
			got := roundTrip(t, c.typ, md, map[string]string{"traceparent": traceparent, "tracestate": "vendor=1", "tenant": "acme"})
			sc := trace.SpanContextFromContext(trigger.Extract(context.Background(), got))
			if !c.carries {
				if sc.IsValid() {
					t.Errorf("a trace context crossed %s, which the docs say cannot carry one: %v", c.typ, got)
				}
				return
			}
			if sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || sc.SpanID().String() != "b7ad6b7169203331" ||
				!sc.IsSampled() || sc.TraceState().Get("vendor") != "1" {
				t.Errorf("received metadata %v: span context %v; want the traceparent and tracestate sent", got, sc)
			}
		})
	}
}

// roundTrip opens an input and an output of typ with md, sends one message
// with the metadata sent, and returns the metadata it is received with.
func roundTrip(t *testing.T, typ string, md, sent map[string]string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := bindings.Config{Name: "trace", Type: typ, Metadata: md}
	in, _, err := bindings.OpenInput(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, _, err := bindings.OpenOutput(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("traced"), Metadata: sent}); err != nil {
		t.Fatal(err)
	}
	for {
		msgs, err := in.Receive(ctx, 10)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range msgs {
			if err := in.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
			if string(m.Data) == "traced" {
				return m.ReadMetadata()
			}
		}
	}
}
