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
	x := newProxied(t, "resend")
	ctx, p, md := x.ctx, x.proxy, x.md
	in := x.open()
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(x.broker).SetClientID(md["consumerID"] + "-pub"))
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
	waitFor := func(what string, cond func() bool) { t.Helper(); x.waitFor(in, what, cond) }
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
	again := x.open()
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
	x := newProxied(t, "session")
	p, in := x.proxy, x.open()
	state := func() (lost, established uint64, resumed bool) {
		return in.resends.conn, in.resends.established, in.resends.resumed
	}
	lockedState := func() (uint64, uint64, bool) {
		in.mu.Lock()
		defer in.mu.Unlock()
		return state()
	}
	waitFor := func(what string, cond func() bool) { t.Helper(); x.waitFor(in, what, cond) }
	_, e0, _ := lockedState()
	if e0 != 1 {
		t.Fatalf("after opening: %d connections counted, want 1", e0)
	}

	p.Cut()
	waitFor("a reconnect", func() bool { _, e, _ := state(); return e == 2 })
	if _, _, resumed := lockedState(); !resumed {
		t.Fatal("a reconnect on a persistent session: not resumed")
	}

	p.Down()
	waitFor("the connection's loss", func() bool { l, _, _ := state(); return l >= 2 })
	if err := x.takeOver(); err != nil {
		t.Fatal(err)
	}
	p.Up()
	waitFor("a reconnect", func() bool { _, e, _ := state(); return e == 3 })
	if _, _, resumed := lockedState(); resumed {
		t.Fatal("a reconnect after a takeover with a clean session: resumed, want a new session")
	}
}

// proxied is an input of the test broker reached through a proxy that the
// test cuts, on a topic and client id of its own, opened on ctx (which
// bounds the test); the broker's session of that id is ended after it.
type proxied struct {
	t      *testing.T
	ctx    context.Context
	proxy  *servertest.Proxy
	broker string // its URL, not through the proxy
	md     map[string]string
}

func newProxied(t *testing.T, name string) *proxied {
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	x := &proxied{t: t, ctx: ctx, proxy: p, broker: broker, md: map[string]string{
		"url": "tcp://" + p.Addr(), "topic": "tether/test/" + name + "/" + id, "consumerID": "tether-test-" + name + "-" + id}}
	t.Cleanup(func() { _ = x.takeOver() })
	return x
}

// open opens an input; it is closed after the test.
func (x *proxied) open() *input {
	x.t.Helper()
	in, _, err := bindings.OpenInput(x.ctx, bindings.Config{Name: "in", Type: TypeName, Metadata: x.md})
	if err != nil {
		x.t.Fatal(err)
	}
	x.t.Cleanup(func() { in.Close() })
	return in.(*input)
}

// takeOver ends the broker's session of the input's client id, as another
// client connecting with it and a clean session does.
func (x *proxied) takeOver() error {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(x.broker).SetClientID(x.md["consumerID"] + "-consumer").SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return fmt.Errorf("take the session over: %v", tok.Error())
	}
	c.Disconnect(0)
	return nil
}

// waitFor polls cond, with in's mu held, until it holds.
func (x *proxied) waitFor(in *input, what string, cond func() bool) {
	x.t.Helper()
	for {
		in.mu.Lock()
		ok := cond()
		in.mu.Unlock()
		if ok {
			return
		}
		if x.ctx.Err() != nil {
			x.t.Fatalf("waiting for %s: %v", what, x.ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
