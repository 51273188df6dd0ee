package mqtt

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/url"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// A message the input holds when its connection drops (queued, or in a
// handler) can no longer be acked: Paho v1.5.1 drops an ack for a message
// that came over a connection since lost (its ackFunc sends on the lost
// connection's router, which has stopped). On a resumed session the broker
// sends every unacked message again over the next connection, with the same
// packet id and the DUP flag (MQTT 3.1.1, 4.4). Taken as a delivery of its
// own, the resend would be handled a second time; resends matches it with
// the delivery the input holds, which then acks the resend, over the new
// connection:
//   - a held delivery (queued, or in a handler) takes the resend as the
//     message it acks, keeping its place in the queue and its count;
//   - the resend of a message acked while its connection was lost is acked
//     at once.
//
// A match needs the packet id, the topic and the payload, and the same
// broker session: a broker reuses a packet id once its message is acked,
// and a new session (the broker lost or expired the old one, another client
// took the id with a clean session) numbers its messages afresh, so a
// message of the new session may look like one the input held. Paho does
// not say whether a reconnect resumed the session: dial reads it from the
// CONNACK (session present), before Paho hands out any message of the new
// connection. A held delivery that no resend meets (a clean session, a new
// one) is handled as it is: nothing is dropped or acked but on a match.
type resends struct {
	conn     uint64               // connections lost so far (onReconnecting)
	session  uint64               // sessions the broker started anew (a CONNACK without session present)
	held     map[uint16]*delivery // QoS 1 and 2 deliveries not acked, by packet id
	lostAcks map[uint16]lostAck   // acked over a lost connection, by packet id
	// A map by packet id holds 65,536 entries at most.
}

// lostAck is a message acked over a lost connection, in its session.
type lostAck struct {
	msg     paho.Message
	session uint64
}

func newResends() *resends {
	return &resends{held: map[uint16]*delivery{}, lostAcks: map[uint16]lostAck{}}
}

// The methods below are called with the input's mu held.

// arrived stamps d, a delivery of a message that just arrived, with the
// connection and session it came over, and holds it.
func (r *resends) arrived(d *delivery) {
	d.conn, d.session = r.conn, r.session
	if d.msg.Qos() > 0 { // QoS 0 has no packet id, no ack, no resend
		r.held[d.msg.MessageID()] = d
	}
}

// resent settles m, a message flagged as sent before, when it is the resend
// of one the input holds or acked over a lost connection: the delivery
// takes it, or ack is to be acked (once mu is released). False when m is a
// delivery of its own.
func (r *resends) resent(m paho.Message) (ack paho.Message, ok bool) {
	pid := m.MessageID()
	if d := r.held[pid]; d != nil && d.conn < r.conn && d.session == r.session && sameMessage(d.msg, m) {
		d.msg, d.conn = m, r.conn
		return nil, true
	}
	if a, found := r.lostAcks[pid]; found && a.session == r.session && sameMessage(a.msg, m) {
		delete(r.lostAcks, pid)
		return m, true
	}
	return nil, false
}

// acked forgets d, acked now, and reports whether its ack is lost: it came
// over a lost connection, so Paho drops the ack, and its resend, in the
// same session, is acked when it comes.
func (r *resends) acked(d *delivery) (lost bool) {
	if d.msg.Qos() == 0 {
		return false
	}
	pid := d.msg.MessageID()
	if r.held[pid] == d {
		delete(r.held, pid)
	}
	if d.conn < r.conn && d.session == r.session {
		r.lostAcks[pid] = lostAck{msg: d.msg, session: d.session}
		return true
	}
	return false
}

// lostConnection counts a lost connection: Paho calls onReconnecting once
// the connection's goroutines have stopped (no message of it comes after)
// and before the next connection starts (none of it comes before).
func (r *resends) lostConnection() { r.conn++ }

// newSession counts a session the broker started anew: nothing held of the
// old one can meet a resend any more.
func (r *resends) newSession() {
	r.session++
	clear(r.lostAcks)
}

// sameMessage reports whether b, a resend, carries a's message.
func sameMessage(a, b paho.Message) bool {
	return a.Topic() == b.Topic() && bytes.Equal(a.Payload(), b.Payload())
}

// dial opens a connection to the broker as Paho does (its openConnection,
// which is not exported, for the schemes parse allows), and reports the
// session-present flag of the CONNACK that the connection opens with to
// sessionPresent, which Paho reads before it hands out any message of the
// connection.
func dial(uri *url.URL, o paho.ClientOptions, sessionPresent func(bool)) (net.Conn, error) {
	dialer := o.Dialer
	if dialer == nil {
		dialer = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	var conn net.Conn
	var err error
	switch uri.Scheme {
	case "ws", "wss":
		u := *uri
		u.User = nil // as Paho: the WebSocket dialer refuses it
		var tlsc *tls.Config
		if uri.Scheme == "wss" {
			tlsc = o.TLSConfig
		}
		conn, err = paho.NewWebsocket(u.String(), tlsc, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	case "ssl":
		conn, err = tls.DialWithDialer(dialer, "tcp", uri.Host, o.TLSConfig)
	default: // tcp
		conn, err = proxy.FromEnvironmentUsing(dialer).Dial("tcp", uri.Host)
	}
	if err != nil {
		return nil, err
	}
	return &connackConn{Conn: conn, report: sessionPresent}, nil
}

// connackConn passes a connection's reads through, and reports the
// session-present flag of the first packet the broker sends, its CONNACK
// (fixed header 0x20, remaining length 2, flags, return code), when the
// connection was accepted.
type connackConn struct {
	net.Conn
	head   [4]byte
	n      int
	report func(sessionPresent bool)
}

func (c *connackConn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	if c.n < len(c.head) && k > 0 {
		c.n += copy(c.head[c.n:], p[:k])
		if c.n == len(c.head) && c.head[0] == 0x20 && c.head[1] == 2 && c.head[3] == 0 {
			c.report(c.head[2]&1 == 1)
		}
	}
	return k, err
}
