package mqtt

import (
	"net"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// fakeMessage is a paho.Message whose Ack is counted.
type fakeMessage struct {
	pid     uint16
	qos     byte
	dup     bool
	topic   string
	payload string
	acks    int
}

func (m *fakeMessage) Duplicate() bool   { return m.dup }
func (m *fakeMessage) Qos() byte         { return m.qos }
func (m *fakeMessage) Retained() bool    { return false }
func (m *fakeMessage) Topic() string     { return m.topic }
func (m *fakeMessage) MessageID() uint16 { return m.pid }
func (m *fakeMessage) Payload() []byte   { return []byte(m.payload) }
func (m *fakeMessage) Ack()              { m.acks++ }

func msg(pid uint16, payload string, dup bool) *fakeMessage {
	return &fakeMessage{pid: pid, qos: 1, dup: dup, topic: "t", payload: payload}
}

// hold is onMessage for a message that is no resend.
func hold(r *resends, m *fakeMessage) *delivery {
	d := &delivery{msg: m}
	r.arrived(d)
	return d
}

// TestResendsMatch: over the next connection, which resumed the session,
// the resend of a held message becomes the message its delivery acks, and
// again after a second reconnect; the resend of one acked during the outage
// is acked at once.
func TestResendsMatch(t *testing.T) {
	r := newResends()
	r.connected(false)
	held := hold(r, msg(1, "a", false))
	ackedDown := hold(r, msg(2, "b", false))
	r.lostConnection()
	if !r.acked(ackedDown) {
		t.Fatal("an ack over a lost connection: not reported lost")
	}
	r.connected(true)

	first := msg(1, "a", true)
	if ack, ok := r.resent(first); !ok || ack != nil || held.msg != first {
		t.Fatalf("resend of a held message: ok %v, ack %v; the delivery acks %v, want the resend", ok, ack, held.msg)
	}
	resendB := msg(2, "b", true)
	if ack, ok := r.resent(resendB); !ok || ack != resendB {
		t.Fatalf("resend of a message acked during the outage: ok %v, ack %v, want it acked", ok, ack)
	}
	if _, ok := r.resent(msg(2, "b", true)); ok {
		t.Error("a second resend of it matched too")
	}

	r.lostConnection()
	r.connected(true)
	second := msg(1, "a", true)
	if _, ok := r.resent(second); !ok || held.msg != second {
		t.Fatalf("after a second reconnect: the delivery acks %v, want the newest resend", held.msg)
	}
	if r.acked(held) {
		t.Error("an ack of the newest resend, over the live connection: reported lost")
	}
	if len(r.held) != 0 || len(r.lostAcks) != 0 {
		t.Errorf("left held %d, lost acks %d; want none", len(r.held), len(r.lostAcks))
	}
}

// TestResendsMatchNothingLater: a message that looks like one the input held
// or acked over a lost connection (the packet id, topic and payload: a
// broker reuses ids, and payloads repeat) is a resend of it only over the
// next connection, and only when that one resumed the session. On a new
// session, or on any later connection (the broker forgot the message:
// restored from an older snapshot), it must be a delivery of its own, not
// be acked unhandled or folded into the old delivery.
func TestResendsMatchNothingLater(t *testing.T) {
	for _, tc := range []struct {
		name string
		next func(r *resends) // from the loss of the messages' connection to the look-alike
	}{
		{"new session", func(r *resends) {
			r.connected(false)
		}},
		{"new session, then resumed", func(r *resends) {
			r.connected(false)
			r.lostConnection()
			r.connected(true)
		}},
		{"resumed without them, then again", func(r *resends) {
			r.connected(true)
			r.lostConnection()
			r.connected(true)
		}},
		{"no CONNACK read", func(*resends) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newResends()
			r.connected(true)
			held := hold(r, msg(1, "on", false))
			ackedDown := hold(r, msg(2, "on", false))
			r.lostConnection()
			r.acked(ackedDown)
			tc.next(r)
			for _, m := range []*fakeMessage{msg(1, "on", true), msg(2, "on", true)} {
				if ack, ok := r.resent(m); ok {
					t.Errorf("packet %d taken for a resend (ack %v)", m.pid, ack)
				}
			}
			if held.msg.(*fakeMessage).dup {
				t.Error("the held delivery took the look-alike")
			}
		})
	}
}

// TestResendsAckOfAForgottenMessage: once a later message took a held
// message's packet id, the broker has forgotten the held one; its ack over
// a lost connection then waits for no resend.
func TestResendsAckOfAForgottenMessage(t *testing.T) {
	r := newResends()
	r.connected(false)
	old := hold(r, msg(5, "on", false))
	r.lostConnection()
	r.connected(false)
	hold(r, msg(5, "on", false)) // the new session's message 5
	if r.acked(old) {
		t.Error("the ack of a message whose packet id a later one took: reported lost")
	}
	if len(r.lostAcks) != 0 {
		t.Errorf("lost acks %d, want none", len(r.lostAcks))
	}
}

// TestResendsOnTheSameConnectionOrOfOtherMessagesMatchNothing: a flagged
// message over the connection a delivery came by, or with another topic,
// payload, QoS or retain flag under the packet id, is no resend of it; QoS
// 0 is never held.
func TestResendsOnTheSameConnectionOrOfOtherMessagesMatchNothing(t *testing.T) {
	r := newResends()
	r.connected(true)
	hold(r, msg(1, "a", false))
	if _, ok := r.resent(msg(1, "a", true)); ok {
		t.Error("matched over the same connection")
	}
	r.lostConnection()
	r.connected(true)
	topic, qos, retained := msg(1, "a", true), msg(1, "a", true), &retainedMessage{msg(1, "a", true)}
	topic.topic, qos.qos = "u", 2
	for name, m := range map[string]paho.Message{"payload": msg(1, "other", true), "topic": topic, "qos": qos, "retain flag": retained} {
		if _, ok := r.resent(m); ok {
			t.Errorf("matched another %s", name)
		}
	}
	q0 := &fakeMessage{qos: 0, topic: "t", payload: "z"}
	hold(r, q0)
	if _, ok := r.held[0]; ok {
		t.Error("a QoS 0 message held (it has no packet id)")
	}
}

// retainedMessage is a fakeMessage flagged retained.
type retainedMessage struct{ *fakeMessage }

func (retainedMessage) Retained() bool { return true }

// TestConnackConnReportsSessionPresent reads the flag from the first
// packet however the reads split it, and only from an accepted CONNACK.
func TestConnackConnReportsSessionPresent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream []byte
		chunks []int
		want   []bool
	}{
		{"present, one read", []byte{0x20, 2, 1, 0, 0x30}, []int{5}, []bool{true}},
		{"absent, byte by byte", []byte{0x20, 2, 0, 0}, []int{1, 1, 1, 1}, []bool{false}},
		{"refused", []byte{0x20, 2, 0, 5}, []int{4}, nil},
		{"not a CONNACK", []byte{0x30, 2, 1, 0}, []int{4}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []bool
			c := &connackConn{Conn: &chunkConn{data: tc.stream, chunks: tc.chunks}, report: func(p bool) { got = append(got, p) }}
			buf := make([]byte, 16)
			for range tc.chunks {
				if _, err := c.Read(buf); err != nil {
					t.Fatal(err)
				}
			}
			if len(got) != len(tc.want) || (len(got) == 1 && got[0] != tc.want[0]) {
				t.Errorf("reported %v, want %v", got, tc.want)
			}
		})
	}
}

// chunkConn is a net.Conn whose reads return data in the given chunks.
type chunkConn struct {
	net.Conn
	data   []byte
	chunks []int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	n := copy(p, c.data[:c.chunks[0]])
	c.data, c.chunks = c.data[n:], c.chunks[1:]
	return n, nil
}
