package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/testkit/servertest"
)

// TestResendsAfterAReconnectMeetTheirCopies: what the input holds of a
// message when its connection drops can no longer be acked (Paho drops an
// ack over a lost connection), and the broker sends the message again over
// the next one. The resend is matched with the input's copy, so each
// message is handled once and its ack sticks, whether the copy was queued
// (the resend takes its place), handed out (its ack or nack settles the
// resend), or acked while the connection was down (the resend is acked
// when it comes): the session's next connection gets nothing again.
func TestResendsAfterAReconnectMeetTheirCopies(t *testing.T) {
	broker := os.Getenv("TETHER_TEST_MQTT_URL")
	if broker == "" {
		broker = "tcp://127.0.0.1:1883"
	}
	p, err := servertest.StartProxy(strings.TrimPrefix(broker, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	md := map[string]string{"url": "tcp://" + p.Addr(), "topic": "tether/test/resend/" + id, "consumerID": "tether-test-resend-" + id}
	t.Cleanup(func() { // end the session
		c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(md["consumerID"] + "-consumer").SetCleanSession(true))
		if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			c.Disconnect(0)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func() *input {
		in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "in", Type: TypeName, Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		return in.(*input)
	}
	in := open()
	t.Cleanup(func() { in.Close() })
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("tether-test-resend-pub-" + id))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	defer pub.Disconnect(0)
	publish := func(payload string) {
		t.Helper()
		if tok := pub.Publish(md["topic"], 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", payload, tok.Error())
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for {
			in.mu.Lock()
			ok := cond()
			in.mu.Unlock()
			if ok {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	receive := func(n int) []*bindings.Message {
		t.Helper()
		msgs, err := in.Receive(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		return msgs
	}

	// Three handed out (acked during the outage, acked after it, nacked
	// after it), five queued.
	for _, payload := range []string{"acked-down", "acked-after", "nacked", "q0", "q1", "q2", "q3", "q4"} {
		publish(payload)
	}
	waitFor("the messages to arrive", func() bool { return len(in.arrived) == 8 })
	held := receive(3)
	p.Down()
	waitFor("the connection's loss", func() bool { return in.resends.conn > 0 })
	if err := in.Ack(ctx, held[0]); err != nil {
		t.Errorf("ack over the lost connection: %v, want nil (the resend is acked when it comes)", err)
	}
	p.Up()
	waitFor("the resends to meet their copies", func() bool {
		// Every delivery held took its resend; the one acked during the
		// outage had its resend acked.
		r := in.resends
		for _, d := range r.held {
			if d.conn != r.conn {
				return false
			}
		}
		return len(r.held) == 7 && len(r.lostAcks) == 0
	})
	if err := in.Ack(ctx, held[1]); err != nil {
		t.Errorf("ack after the reconnect: %v", err)
	}
	if err := in.Nack(ctx, held[2], 0); err != nil {
		t.Fatal(err)
	}

	var got []string
	for _, m := range receive(10) {
		got = append(got, fmt.Sprintf("%s#%d", m.Data, m.DeliveryCount))
		if m.Metadata["duplicate"] != "false" {
			t.Errorf("%s: duplicate %s, want false (the copy that came first was not flagged)", m.Data, m.Metadata["duplicate"])
		}
		if err := in.Ack(ctx, m); err != nil {
			t.Errorf("ack %q: %v", m.Data, err)
		}
	}
	if want := "[nacked#2 q0#1 q1#1 q2#1 q3#1 q4#1]"; fmt.Sprint(got) != want {
		t.Errorf("after the reconnect: handed out %v, want %s (the nacked one again, the queued ones once)", got, want)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}

	// The acks stuck: the session's next connection gets only what comes
	// after them.
	again := open()
	defer again.Close()
	publish("end")
	msgs, err := again.Receive(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, m := range msgs {
		got = append(got, string(m.Data))
	}
	if fmt.Sprint(got) != "[end]" {
		t.Fatalf("the session's next connection got %q, want only [end]", got)
	}
}

// TestANewSessionIsNoticed: the input reads from each CONNACK whether the
// broker resumed its session. A reconnect resumes it; one after another
// client took the client id with a clean session (which ends the session)
// does not, and nothing held from before can then meet a resend.
func TestANewSessionIsNoticed(t *testing.T) {
	broker := os.Getenv("TETHER_TEST_MQTT_URL")
	if broker == "" {
		broker = "tcp://127.0.0.1:1883"
	}
	p, err := servertest.StartProxy(strings.TrimPrefix(broker, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	md := map[string]string{"url": "tcp://" + p.Addr(), "topic": "tether/test/session/" + id, "consumerID": "tether-test-session-" + id}
	takeOver := func() { // a clean session ends the input's
		c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(md["consumerID"] + "-consumer").SetCleanSession(true))
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("take the session over: %v", tok.Error())
		}
		c.Disconnect(0)
	}
	t.Cleanup(takeOver)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bi, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "in", Type: TypeName, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	in := bi.(*input)
	t.Cleanup(func() { in.Close() })
	state := func() (lost, established uint64, resumed bool) {
		in.mu.Lock()
		defer in.mu.Unlock()
		return in.resends.conn, in.resends.established, in.resends.resumed
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	_, e0, _ := state()
	if e0 != 1 {
		t.Fatalf("after opening: %d connections counted, want 1", e0)
	}

	p.Cut()
	waitFor("a reconnect", func() bool { _, e, _ := state(); return e == 2 })
	if _, _, resumed := state(); !resumed {
		t.Fatal("a reconnect on a persistent session: not resumed")
	}

	p.Down()
	waitFor("the connection's loss", func() bool { l, _, _ := state(); return l >= 2 })
	takeOver()
	p.Up()
	waitFor("a reconnect", func() bool { _, e, _ := state(); return e == 3 })
	if _, _, resumed := state(); resumed {
		t.Fatal("a reconnect after a takeover with a clean session: resumed, want a new session")
	}
}
