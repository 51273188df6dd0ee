package rabbitmq_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/rabbitmq"
)

func brokerURL() string {
	if u := os.Getenv("TETHER_TEST_RABBITMQ_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

func suffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// component returns metadata for a fresh queue, deleted after the test.
func component(t testing.TB, extra map[string]string) map[string]string {
	t.Helper()
	md := map[string]string{
		"host":      brokerURL(),
		"queueName": "tether-test-" + suffix(t),
	}
	for k, v := range extra {
		md[k] = v
	}
	t.Cleanup(func() {
		withRaw(t, func(ch *amqp.Channel) error {
			for _, q := range []string{md["queueName"], md["deadLetterQueue"]} {
				if q != "" {
					_, _ = ch.QueueDelete(q, false, false, false)
				}
			}
			if x := md["deadLetterExchange"]; x != "" {
				_ = ch.ExchangeDelete(x, false, false)
			}
			return nil
		})
	})
	return md
}

// withRaw runs f on a channel of a plain amqp091 connection.
func withRaw(t testing.TB, f func(*amqp.Channel) error) {
	t.Helper()
	conn, err := amqp.Dial(brokerURL())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	if err := f(ch); err != nil {
		t.Fatal(err)
	}
}

func openInput(t testing.TB, name string, md map[string]string) bindings.Input {
	t.Helper()
	in, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: name, Type: rabbitmq.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("open input: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func openOutput(t testing.TB, md map[string]string) bindings.Output {
	t.Helper()
	out, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "out", Type: rabbitmq.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("open output: %v", err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

func send(t testing.TB, out bindings.Output, data string, md map[string]string) {
	t.Helper()
	if _, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte(data), Metadata: md}); err != nil {
		t.Fatalf("send %q: %v", data, err)
	}
}

func receiveOne(t testing.TB, in bindings.Input) *bindings.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
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

func TestRoundTripCarriesPropertiesAndHeaders(t *testing.T) {
	md := component(t, map[string]string{"durable": "true", "maxPriority": "5"})
	out := openOutput(t, md)
	in := openInput(t, "in", md)
	ctx := context.Background()
	resp, err := out.Invoke(ctx, &bindings.InvokeRequest{
		Operation: bindings.OpCreate, Data: []byte(`{"n":1}`), ContentType: "application/json",
		Metadata: map[string]string{"tenant": "acme", "messageID": "m-1", "correlationID": "c-1", "priority": "3", "ttlInSeconds": "60"},
	})
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	if resp.Metadata["messageID"] != "m-1" {
		t.Errorf("response metadata %v, want messageID m-1", resp.Metadata)
	}
	m := receiveOne(t, in)
	if string(m.Data) != `{"n":1}` || m.ContentType != "application/json" || m.ID != "m-1" {
		t.Errorf("got data %q content type %q id %q", m.Data, m.ContentType, m.ID)
	}
	want := map[string]string{"tenant": "acme", "correlationID": "c-1", "priority": "3", "routingKey": md["queueName"], "redelivered": "false"}
	for k, v := range want {
		if m.ReadMetadata()[k] != v {
			t.Errorf("metadata[%q] = %q, want %q (all: %v)", k, m.ReadMetadata()[k], v, m.ReadMetadata())
		}
	}
	if _, leaked := m.ReadMetadata()["ttlInSeconds"]; leaked {
		t.Errorf("property key ttlInSeconds became a header: %v", m.ReadMetadata())
	}
	if m.DeliveryCount != 1 || m.Time.IsZero() {
		t.Errorf("delivery count %d time %v, want 1 and the publish time", m.DeliveryCount, m.Time)
	}
	if err := in.Ack(ctx, m); err != nil {
		t.Fatalf("ack: %v", err)
	}
	if err := in.Ack(ctx, m); err == nil {
		t.Error("a second ack of the same message succeeded; it would close the channel")
	}
}

// countsRedeliveries nacks one message three times and checks the counts.
func countsRedeliveries(t *testing.T, md map[string]string) {
	out := openOutput(t, md)
	in := openInput(t, "in", md)
	send(t, out, "x", nil)
	ctx := context.Background()
	for want := 1; want <= 3; want++ {
		m := receiveOne(t, in)
		if m.DeliveryCount != want {
			t.Fatalf("delivery %d: DeliveryCount = %d (metadata %v)", want, m.DeliveryCount, m.ReadMetadata())
		}
		if err := in.Nack(ctx, m, time.Millisecond); err != nil {
			t.Fatalf("nack: %v", err)
		}
	}
	if err := in.Ack(ctx, receiveOne(t, in)); err != nil {
		t.Fatal(err)
	}
}

func TestClassicQueueCountsRedeliveries(t *testing.T) {
	countsRedeliveries(t, component(t, nil))
}

func TestQuorumQueueCountsRedeliveries(t *testing.T) {
	countsRedeliveries(t, component(t, map[string]string{"queueType": "quorum", "durable": "true"}))
}

func TestQuorumQueueMustBeDurable(t *testing.T) {
	md := component(t, map[string]string{"queueType": "quorum"})
	_, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "in", Type: rabbitmq.TypeName, Metadata: md})
	var ke *bindings.KeyError
	if !errors.As(err, &ke) || ke.Key != "queueType" {
		t.Fatalf("open a non-durable quorum queue: %v, want a queueType KeyError", err)
	}
}

func TestDeadLetterGoesThroughTheExchange(t *testing.T) {
	s := suffix(t)
	md := component(t, map[string]string{"deadLetterExchange": "tether-test-dlx-" + s, "deadLetterQueue": "tether-test-dlq-" + s})
	out := openOutput(t, md)
	in := openInput(t, "in", md)
	send(t, out, "poison", map[string]string{"messageID": "p-1"})
	m := receiveOne(t, in)
	ok, err := in.(bindings.DeadLetterer).DeadLetter(context.Background(), m, errors.New("bad"))
	if err != nil || !ok {
		t.Fatalf("dead letter: ok %v, err %v", ok, err)
	}
	withRaw(t, func(ch *amqp.Channel) error {
		deliveries, err := ch.Consume(md["deadLetterQueue"], "", true, false, false, false, nil)
		if err != nil {
			return err
		}
		select {
		case d := <-deliveries:
			if string(d.Body) != "poison" || d.MessageId != "p-1" {
				t.Errorf("dead-letter queue holds %q (id %q)", d.Body, d.MessageId)
			}
		case <-time.After(20 * time.Second):
			t.Error("nothing arrived in the dead-letter queue")
		}
		return nil
	})

	// Without a dead-letter exchange the runtime is told to nack instead.
	plain := component(t, nil)
	openOutput(t, plain)
	in2 := openInput(t, "in2", plain)
	send(t, openOutput(t, plain), "x", nil)
	m2 := receiveOne(t, in2)
	if ok, err := in2.(bindings.DeadLetterer).DeadLetter(context.Background(), m2, errors.New("bad")); ok || err != nil {
		t.Fatalf("dead letter without an exchange: ok %v, err %v; want false, nil", ok, err)
	}
	if err := in2.Nack(context.Background(), m2, 0); err != nil {
		t.Fatal(err)
	}
}

func TestPrefetchBoundsUnackedMessages(t *testing.T) {
	md := component(t, map[string]string{"prefetchCount": "3"})
	out := openOutput(t, md)
	for i := range 10 {
		send(t, out, string(rune('a'+i)), nil)
	}
	in := openInput(t, "in", md)
	var held []*bindings.Message
	for len(held) < 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		msgs, err := in.Receive(ctx, 10)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, msgs...)
	}
	// The broker has sent three and may send no more until one is acked.
	withRaw(t, func(ch *amqp.Channel) error {
		q, err := ch.QueueDeclarePassive(md["queueName"], false, false, false, false, nil)
		if err != nil {
			return err
		}
		if len(held) != 3 || q.Messages != 7 {
			t.Errorf("with prefetch 3: %d received, %d still ready in the queue; want 3 and 7", len(held), q.Messages)
		}
		return nil
	})
	for _, m := range held {
		if err := in.Ack(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClientPublishesToExchangesAndRefusesUnroutable(t *testing.T) {
	md := component(t, nil)
	out := openOutput(t, md)
	in := openInput(t, "in", md)
	typ, _ := bindings.Lookup(rabbitmq.TypeName)
	var c rabbitmq.Client
	if err := c.BindOutput(bindings.OutputBinding{Name: "events", Type: typ, Output: out}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	ctx := context.Background()
	err := c.Publish(ctx, "", c.Queue(), []byte("hi"), rabbitmq.WithHeader("n", 7), rabbitmq.WithCorrelationID("c"),
		rabbitmq.WithContentType("text/plain"), rabbitmq.WithTTL(time.Minute), rabbitmq.WithType("greeting"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	m := receiveOne(t, in)
	if string(m.Data) != "hi" || m.ReadMetadata()["n"] != "7" || m.ReadMetadata()["correlationID"] != "c" || m.ReadMetadata()["type"] != "greeting" || m.ID == "" {
		t.Errorf("received %q id %q metadata %v", m.Data, m.ID, m.ReadMetadata())
	}
	in.Ack(ctx, m)

	err = c.Publish(ctx, "amq.direct", "nobody-binds-this-"+suffix(t), []byte("lost?"))
	var be *bindings.Error
	if err == nil || !errors.As(err, &be) || be.Binding != "events" || !strings.Contains(err.Error(), "returned") {
		t.Errorf("publish with no queue to take it: %v, want a returned-message error from binding events", err)
	}

	var other rabbitmq.Client
	err = other.BindOutput(bindings.OutputBinding{Name: "orders", Type: &bindings.Type{Name: "bindings.kafka"}, Output: out})
	if err == nil || !strings.Contains(err.Error(), `"orders"`) || !strings.Contains(err.Error(), "bindings.kafka") || !strings.Contains(err.Error(), rabbitmq.TypeName) {
		t.Errorf("bind to a bindings.kafka component: %v, want an error naming the component and both types", err)
	}
}

// TestReconnectsAfterTheConnectionIsCut cuts the input's TCP connection under
// it: the message in flight comes back, marked redelivered, over a new
// connection, and later messages arrive too.
func TestReconnectsAfterTheConnectionIsCut(t *testing.T) {
	var mu sync.Mutex
	var conns []net.Conn
	restore := rabbitmq.SetDialer(func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	})
	md := component(t, nil)
	in := openInput(t, "in", md)
	restore()
	out := openOutput(t, md)

	send(t, out, "first", map[string]string{"messageID": "first"})
	m := receiveOne(t, in)
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	if err := in.Ack(context.Background(), m); err == nil {
		// The ack may have left before the cut reached the client; then
		// the broker may still have requeued it. Only a redelivery proves
		// anything, so go on either way.
		t.Log("ack raced the cut")
	}
	again := receiveOne(t, in)
	if again.ID != "first" || again.ReadMetadata()["redelivered"] != "true" || again.DeliveryCount < 2 {
		t.Fatalf("after the cut got id %q redelivered %q count %d, want first, true, >= 2", again.ID, again.ReadMetadata()["redelivered"], again.DeliveryCount)
	}
	if err := in.Ack(context.Background(), again); err != nil {
		t.Fatalf("ack over the new connection: %v", err)
	}
	send(t, out, "second", nil)
	if m := receiveOne(t, in); string(m.Data) != "second" {
		t.Fatalf("after reconnecting got %q, want second", m.Data)
	} else {
		in.Ack(context.Background(), m)
	}
}

// TestReconnectsAfterTheBrokerClosesTheConnection has the broker itself
// force-close the input's connection (rabbitmqctl close_connection).
func TestReconnectsAfterTheBrokerClosesTheConnection(t *testing.T) {
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		t.Skip("rabbitmqctl not installed; TestReconnectsAfterTheConnectionIsCut covers the client side")
	}
	md := component(t, nil)
	name := "conn-" + suffix(t)
	in := openInput(t, name, md)
	out := openOutput(t, md)
	if err := closeFromBroker("tether input " + name); err != nil {
		t.Skipf("rabbitmqctl cannot close connections here: %v", err)
	}
	send(t, out, "after", nil)
	if m := receiveOne(t, in); string(m.Data) != "after" {
		t.Fatalf("after the broker closed the connection got %q", m.Data)
	} else if err := in.Ack(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func closeFromBroker(connectionName string) error {
	list, err := exec.Command("rabbitmqctl", "list_connections", "-q", "pid", "client_properties").CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(list)))
	}
	for _, line := range strings.Split(string(list), "\n") {
		pid, props, ok := strings.Cut(line, "\t")
		if ok && strings.Contains(props, `"`+connectionName+`"`) {
			if out, err := exec.Command("rabbitmqctl", "close_connection", pid, "tether test").CombinedOutput(); err != nil {
				return errors.New(strings.TrimSpace(string(out)))
			}
			return nil
		}
	}
	return errors.New("connection " + connectionName + " not listed")
}
