package mqtt_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/mqtt"
	"github.com/tetherfn/tether/bindings/mqtt/internal/mosquittotest"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/internal/testkit/servertest"
)

func brokerURL() string {
	if u := os.Getenv("TETHER_TEST_MQTT_URL"); u != "" {
		return u
	}
	return "tcp://127.0.0.1:1883"
}

func suffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// component returns metadata for a fresh topic and client id; the broker's
// sessions of that id are removed after the test.
func component(t testing.TB, extra map[string]string) map[string]string {
	t.Helper()
	s := suffix(t)
	md := map[string]string{
		"url":        brokerURL(),
		"topic":      "tether/test/" + s,
		"consumerID": "tether-test-" + s,
	}
	for k, v := range extra {
		md[k] = v
	}
	t.Cleanup(func() { forgetSessions(md["consumerID"]) })
	return md
}

// forgetSessions ends the broker's persistent sessions of a test's client ids
// by connecting once with a clean session.
func forgetSessions(consumerID string) {
	for _, id := range []string{consumerID + "-consumer", consumerID + "-producer"} {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(brokerURL()).SetClientID(id).SetCleanSession(true))
		if t := c.Connect(); t.WaitTimeout(5*time.Second) && t.Error() == nil {
			c.Disconnect(0)
		}
	}
}

func openInput(t testing.TB, md map[string]string) bindings.Input {
	t.Helper()
	in, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "in", Type: mqtt.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("open input: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func openOutput(t testing.TB, md map[string]string) bindings.Output {
	t.Helper()
	out, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "out", Type: mqtt.AliasName, Metadata: md})
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

func receive(t testing.TB, in bindings.Input, max int) []*bindings.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs, err := in.Receive(ctx, max)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return msgs
}

// receiveAll receives until it has n messages, acking each unless hold.
func receiveAll(t testing.TB, in bindings.Input, n int, hold bool) map[string]*bindings.Message {
	t.Helper()
	got := map[string]*bindings.Message{}
	for len(got) < n {
		for _, m := range receive(t, in, 10) {
			if _, dup := got[string(m.Data)]; dup {
				t.Errorf("%q received twice", m.Data)
			}
			got[string(m.Data)] = m
			if !hold {
				if err := in.Ack(context.Background(), m); err != nil {
					t.Errorf("ack: %v", err)
				}
			}
		}
	}
	return got
}

func TestRoundTripAndNack(t *testing.T) {
	md := component(t, nil)
	in := openInput(t, md)
	out := openOutput(t, md)
	send(t, out, "hello", map[string]string{"qos": "1", "ignored": "MQTT 3 has no headers"})
	m := receive(t, in, 1)[0]
	if string(m.Data) != "hello" || m.Key != md["topic"] || m.Metadata["topic"] != md["topic"] || m.Metadata["qos"] != "1" || m.DeliveryCount != 1 || m.ID == "" {
		t.Fatalf("received %q key %q count %d id %q metadata %v", m.Data, m.Key, m.DeliveryCount, m.ID, m.Metadata)
	}
	ctx := context.Background()
	for want := 2; want <= 3; want++ {
		if err := in.Nack(ctx, m, time.Second); err != nil {
			t.Fatalf("nack: %v", err)
		}
		again := receive(t, in, 1)[0]
		if again.ID != m.ID || again.DeliveryCount != want || string(again.Data) != "hello" {
			t.Fatalf("after a nack: id %q count %d, want %q and %d", again.ID, again.DeliveryCount, m.ID, want)
		}
		m = again
	}
	if err := in.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := in.Ack(ctx, m); err == nil {
		t.Error("a second ack of the same message succeeded")
	}
}

// TestMessagesPublishedWhileDownArrive closes the input (the function
// stops), publishes, and opens it again: the persistent session kept them.
func TestMessagesPublishedWhileDownArrive(t *testing.T) {
	md := component(t, nil)
	in := openInput(t, md)
	out := openOutput(t, md)
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		send(t, out, fmt.Sprint("while-down-", i), nil)
	}
	got := receiveAll(t, openInput(t, md), 5, false)
	for i := range 5 {
		// The broker may have sent the first one to the closing connection
		// already: it then comes again, flagged, as a second delivery.
		if m := got[fmt.Sprint("while-down-", i)]; m.DeliveryCount != 1 && m.Metadata["duplicate"] != "true" {
			t.Errorf("message %d: count %d, metadata %v", i, m.DeliveryCount, m.Metadata)
		}
	}
}

// TestABacklogLargerThanAnyBufferOpens: a function that was down while
// messages piled up in its session starts again, on a broker that sends
// without an in-flight limit (max_inflight_messages 0). The broker sends the
// whole backlog the moment the input connects, before the input has renewed
// its subscription; were the input to stop reading until something takes
// them, the subscription (and so opening) would never complete.
func TestABacklogLargerThanAnyBufferOpens(t *testing.T) {
	srv, err := mosquittotest.Start(t.TempDir(), "max_inflight_messages 0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	md := component(t, map[string]string{"url": srv.URL})
	in := openInput(t, md)
	out := openOutput(t, md)
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	const backlog = 2000
	for i := range backlog {
		send(t, out, fmt.Sprint("backlog-", i), nil)
	}
	got := receiveAll(t, openInput(t, md), backlog, false)
	if len(got) != backlog {
		t.Errorf("received %d of the %d waiting", len(got), backlog)
	}
}

// TestAMessageHeldAcrossAReconnectIsHandledOnce drops the input's
// connection (through a proxy, so the client sees the broker go away) while
// it holds a message: the broker resends it on the connection Paho makes
// next, and the input settles that resend with the message it holds
// rather than hand it out again; the ack, after the reconnect, sticks.
// (TestResendsAfterAReconnectMeetTheirCopies has the other cases.)
func TestAMessageHeldAcrossAReconnectIsHandledOnce(t *testing.T) {
	md := component(t, nil)
	p, err := servertest.StartProxy(strings.TrimPrefix(brokerURL(), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	viaProxy := maps.Clone(md)
	viaProxy["url"] = "tcp://" + p.Addr()
	in := openInput(t, viaProxy)
	out := openOutput(t, md)

	send(t, out, "held", nil)
	m := receive(t, in, 1)[0]
	p.Cut()
	send(t, out, "after", nil)
	// The broker resends what is in flight before what it queued meanwhile.
	next := receive(t, in, 1)[0]
	if string(next.Data) != "after" {
		t.Fatalf("after the cut: got %q (duplicate %s), want after: the held message was handed out again", next.Data, next.Metadata["duplicate"])
	}
	if err := in.Ack(context.Background(), m); err != nil {
		t.Fatalf("ack of the held message, after the reconnect: %v", err)
	}
	if err := in.Ack(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	send(t, out, "end", nil)
	if got := receive(t, openInput(t, viaProxy), 1)[0]; string(got.Data) != "end" {
		t.Fatalf("the session's next connection got %q first, want end: an ack was lost", got.Data)
	}
}

// TestSharedSubscriptionSplitsWork runs two replicas (distinct consumerIDs)
// on one $share group: each message reaches one of them.
func TestSharedSubscriptionSplitsWork(t *testing.T) {
	s := suffix(t)
	topic := "tether/test/shared/" + s
	md := func(id string) map[string]string {
		return component(t, map[string]string{"topic": "$share/g" + s + "/" + topic, "consumerID": id + "-" + s})
	}
	a, b := openInput(t, md("a")), openInput(t, md("b"))
	out := openOutput(t, md("producer")) // publishes to topic, without the $share prefix
	const n = 200
	for i := range n {
		send(t, out, fmt.Sprint(i), nil)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	perInput := [2]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, in := range []bindings.Input{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				msgs, err := in.Receive(ctx, 10)
				if err != nil {
					return
				}
				mu.Lock()
				for _, m := range msgs {
					seen[string(m.Data)]++
					perInput[i]++
					in.Ack(ctx, m)
				}
				if len(seen) == n {
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n || perInput[0] == 0 || perInput[1] == 0 {
		t.Fatalf("%d of %d messages seen, %v per replica; want all, split over both", len(seen), n, perInput)
	}
	for p, k := range seen {
		if k > 1 {
			t.Errorf("%q delivered %d times", p, k)
		}
	}
}

func TestClientPublishesPerTopicAndRefusesOtherTypes(t *testing.T) {
	md := component(t, map[string]string{"topic": "tether/test/" + suffix(t) + "/+"})
	in := openInput(t, md)
	out := openOutput(t, md)
	typ, _ := bindings.Lookup(mqtt.TypeName)

	// The component's topic is a filter: create needs a topic per call.
	_, err := out.Invoke(context.Background(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "no topic") {
		t.Errorf("create without a topic on a filter component: %v", err)
	}

	var c mqtt.Client
	if err := c.BindOutput(bindings.OutputBinding{Name: "devices", Type: typ, Output: out}); err != nil {
		t.Fatal(err)
	}
	topic := strings.TrimSuffix(md["topic"], "+") + "42"
	if err := c.Publish(context.Background(), topic, 2, false, []byte("cmd")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if m := receive(t, in, 1)[0]; string(m.Data) != "cmd" || m.Metadata["topic"] != topic {
		t.Errorf("received %q on %q", m.Data, m.Metadata["topic"])
	}

	var other mqtt.Client
	err = other.BindOutput(bindings.OutputBinding{Name: "orders", Type: &bindings.Type{Name: "bindings.kafka"}, Output: out})
	if err == nil || !strings.Contains(err.Error(), `"orders"`) || !strings.Contains(err.Error(), "bindings.kafka") || !strings.Contains(err.Error(), mqtt.TypeName) {
		t.Errorf("bind to a bindings.kafka component: %v, want an error naming the component and both types", err)
	}
	var unbound mqtt.Client
	if err := unbound.Publish(context.Background(), "x", 1, false, nil); err == nil {
		t.Error("publish on an unbound client succeeded")
	}
}

func TestUnreachableBrokerFailsAtOpen(t *testing.T) {
	md := component(t, map[string]string{"url": "tcp://127.0.0.1:1"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "in", Type: mqtt.TypeName, Metadata: md})
	var be *bindings.Error
	if err == nil || !errors.As(err, &be) {
		t.Fatalf("open against a closed port: %v, want a *bindings.Error", err)
	}
}

// TestDeadLetterGoesToTheComponentTopic: the runtime sends a dead letter
// with the failed message's metadata, whose "topic" names where it came
// from; the envelope must still go to the dead-letter component's topic.
func TestDeadLetterGoesToTheComponentTopic(t *testing.T) {
	md := component(t, nil)
	in := openInput(t, md)
	out := openOutput(t, md)
	send(t, out, "envelope", map[string]string{"topic": "tether/elsewhere", "qos": "0", functions.DeadLetterMetadataKey: "true"})
	if m := receive(t, in, 1)[0]; string(m.Data) != "envelope" || m.Metadata["topic"] != md["topic"] || m.Metadata["qos"] != "1" {
		t.Errorf("dead letter arrived as %q on %q with qos %s", m.Data, m.Metadata["topic"], m.Metadata["qos"])
	}
}
