package nats_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/nats"
	"github.com/tetherfn/tether/functions"
)

// serverURL is the JetStream-enabled server the tests use (CI runs one).
func serverURL() string {
	if u := os.Getenv("TETHER_TEST_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

func suffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// component returns metadata for a fresh stream and subject.
func component(t testing.TB, extra map[string]string) map[string]string {
	t.Helper()
	s := suffix(t)
	md := map[string]string{
		"natsURL":       serverURL(),
		"stream":        "TETHER_TEST_" + s,
		"subject":       "tether.test." + s,
		"streamStorage": "memory",
	}
	for k, v := range extra {
		md[k] = v
	}
	t.Cleanup(func() { deleteStream(md["stream"]) })
	return md
}

func open(t testing.TB, md map[string]string) (bindings.Input, bindings.Output) {
	t.Helper()
	ctx := context.Background()
	out, _, err := bindings.OpenOutput(ctx, bindings.Config{Name: "out", Type: nats.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("open output: %v", err)
	}
	t.Cleanup(func() { out.Close() })
	in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "in", Type: nats.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("open input: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in, out
}

func receiveOne(t testing.TB, in bindings.Input) *bindings.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := in.Receive(ctx, 1)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("receive(max 1) returned %d messages", len(msgs))
	}
	return msgs[0]
}

func TestRoundTripCarriesHeadersContentTypeAndCounts(t *testing.T) {
	in, out := open(t, component(t, nil))
	ctx := context.Background()
	resp, err := out.Invoke(ctx, &bindings.InvokeRequest{
		Operation:   bindings.OpCreate,
		Data:        []byte(`{"n":1}`),
		ContentType: "application/json",
		Metadata:    map[string]string{"tenant": "acme", nats.MetaMessageID: "order-1"},
	})
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	if resp.Metadata["sequence"] != "1" || resp.Metadata["duplicate"] != "false" {
		t.Errorf("response metadata = %v, want sequence 1, duplicate false", resp.Metadata)
	}

	m := receiveOne(t, in)
	if string(m.Data) != `{"n":1}` || m.ContentType != "application/json" {
		t.Errorf("got data %q content type %q", m.Data, m.ContentType)
	}
	if m.ReadMetadata()["tenant"] != "acme" || m.ReadMetadata()["Nats-Msg-Id"] != "order-1" {
		t.Errorf("metadata = %v, want tenant and Nats-Msg-Id", m.ReadMetadata())
	}
	if m.ID != "1" || m.DeliveryCount != 1 || m.Key == "" || m.Key != m.ReadMetadata()["subject"] || m.Time.IsZero() {
		t.Errorf("message = id %q count %d key %q time %v", m.ID, m.DeliveryCount, m.Key, m.Time)
	}
	if err := in.Nack(ctx, m, 0); err != nil {
		t.Fatalf("nack: %v", err)
	}
	again := receiveOne(t, in)
	if again.ID != m.ID || again.DeliveryCount != 2 || again.ReadMetadata()["numDelivered"] != "2" {
		t.Errorf("redelivery = id %q count %d, want id %q count 2", again.ID, again.DeliveryCount, m.ID)
	}
	if err := in.Ack(ctx, again); err != nil {
		t.Fatalf("ack: %v", err)
	}
}

func TestMessageIDDeduplicates(t *testing.T) {
	_, out := open(t, component(t, nil))
	req := &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("x"), Metadata: map[string]string{nats.MetaMessageID: "same"}}
	if _, err := out.Invoke(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	resp, err := out.Invoke(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Metadata["duplicate"] != "true" || resp.Metadata["sequence"] != "1" {
		t.Errorf("second publish with the same id: %v, want duplicate of sequence 1", resp.Metadata)
	}
}

func TestBatchReceiveReturnsUpToMax(t *testing.T) {
	in, out := open(t, component(t, nil))
	ctx := context.Background()
	for i := range 5 {
		if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte{byte('a' + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	var got []byte
	for len(got) < 5 {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		msgs, err := in.Receive(ctx, 3)
		cancel()
		if err != nil {
			t.Fatalf("receive after %q: %v", got, err)
		}
		if len(msgs) == 0 || len(msgs) > 3 {
			t.Fatalf("receive(max 3) returned %d messages", len(msgs))
		}
		for _, m := range msgs {
			got = append(got, m.Data...)
			if err := in.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if string(got) != "abcde" {
		t.Errorf("received %q, want the stream's order abcde", got)
	}
}

func TestReceiveHonoursContextAndClose(t *testing.T) {
	in, _ := open(t, component(t, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := in.Receive(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("receive with a cancelled context: %v, want context.Canceled", err)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Receive(context.Background(), 1); !errors.Is(err, bindings.ErrClosed) {
		t.Errorf("receive after close: %v, want ErrClosed", err)
	}
}

func TestMaxDeliverBelowMaxAttemptsIsRefused(t *testing.T) {
	md := component(t, map[string]string{"maxDeliver": "2", "maxAttempts": "5"})
	_, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "in", Type: nats.TypeName, Metadata: md})
	var ke *bindings.KeyError
	if !errors.As(err, &ke) || ke.Key != "maxDeliver" {
		t.Fatalf("open with maxDeliver 2 < maxAttempts 5: %v, want a maxDeliver KeyError", err)
	}
}

func TestMissingStreamWithoutCreateStreamFails(t *testing.T) {
	md := component(t, map[string]string{"createStream": "false"})
	_, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "in", Type: nats.TypeName, Metadata: md})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("open without the stream: %v, want a does-not-exist error", err)
	}
}

func TestClientPublishesWithHeadersAndRefusesOtherTypes(t *testing.T) {
	md := component(t, nil)
	in, out := open(t, md)
	typ, _ := bindings.Lookup(nats.TypeName)

	var c nats.Client
	if err := c.BindOutput(bindings.OutputBinding{Name: "events", Type: typ, Output: out}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	ack, err := c.Publish(context.Background(), md["subject"], []byte("hi"),
		nats.WithMsgID("m-1"), nats.WithHeader("x-a", "1"), nats.WithContentType("text/plain"))
	if err != nil || ack.Sequence != 1 || ack.Duplicate {
		t.Fatalf("publish: %+v, %v", ack, err)
	}
	m := receiveOne(t, in)
	if m.ReadMetadata()["x-a"] != "1" || m.ContentType != "text/plain" || m.ReadMetadata()["Nats-Msg-Id"] != "m-1" {
		t.Errorf("received metadata %v content type %q", m.ReadMetadata(), m.ContentType)
	}

	other := &bindings.Type{Name: "bindings.kafka"}
	var c2 nats.Client
	err = c2.BindOutput(bindings.OutputBinding{Name: "orders", Type: other, Output: out})
	if err == nil || !strings.Contains(err.Error(), `"orders"`) || !strings.Contains(err.Error(), "bindings.kafka") || !strings.Contains(err.Error(), nats.TypeName) {
		t.Errorf("bind to a bindings.kafka component: %v, want an error naming the component and both types", err)
	}

	var unbound nats.Client
	if _, err := unbound.Publish(context.Background(), "x", nil); err == nil {
		t.Error("publish on an unbound client succeeded")
	}
}

// deleteStream removes a test's stream; errors are ignored because a test
// that failed early may not have created it.
func deleteStream(name string) {
	nc, err := natsgo.Connect(serverURL())
	if err != nil {
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = js.DeleteStream(ctx, name)
}

func TestLeaseIntervalIsAThirdOfAckWait(t *testing.T) {
	in, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "in", Type: nats.TypeName, Metadata: component(t, map[string]string{"ackWait": "9s"})})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	li, ok := in.(interface{ LeaseInterval() time.Duration })
	if !ok || li.LeaseInterval() != 3*time.Second {
		t.Fatalf("LeaseInterval with ackWait 9s: implemented %v", ok)
	}
}

// TestDeadLetterGoesToTheComponentSubject: the runtime sends a dead letter
// with the failed message's metadata, whose "subject" names where it came
// from; the envelope must still go to the dead-letter component's subject.
func TestDeadLetterGoesToTheComponentSubject(t *testing.T) {
	md := component(t, nil)
	in, out := open(t, md)
	_, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("envelope"),
		Metadata: map[string]string{"subject": "somewhere.else", functions.DeadLetterMetadataKey: "true", "tenant": "acme"}})
	if err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	m := receiveOne(t, in)
	if string(m.Data) != "envelope" || m.ReadMetadata()["subject"] != md["subject"] || m.ReadMetadata()["tenant"] != "acme" {
		t.Errorf("dead letter arrived as %q on %q with %v", m.Data, m.ReadMetadata()["subject"], m.ReadMetadata())
	}
}

// TestConsumerDeletedIsMadeAgain: when an operator deletes the durable
// consumer under a running input, the input makes it again and goes on
// receiving; nothing published meanwhile is lost (a new durable starts at the
// stream's first message, so it redelivers the acked one too).
func TestConsumerDeletedIsMadeAgain(t *testing.T) {
	md := component(t, nil)
	in, out := open(t, md)
	ctx := context.Background()
	publish := func(data string) {
		t.Helper()
		if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	publish("before")
	if m := receiveOne(t, in); string(m.Data) != "before" {
		t.Fatalf("received %q, want before", m.Data)
	} else if err := in.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}

	nc, err := natsgo.Connect(serverURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteConsumer(ctx, md["stream"], "in"); err != nil {
		t.Fatalf("delete the consumer: %v", err)
	}
	publish("after")
	seen := map[string]bool{}
	for !seen["after"] {
		m := receiveOne(t, in)
		seen[string(m.Data)] = true
		if err := in.Ack(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Consumer(ctx, md["stream"], "in"); err != nil {
		t.Errorf("the consumer was not made again: %v", err)
	}
}
