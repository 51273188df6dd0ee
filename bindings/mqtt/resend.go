package mqtt

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/url"
	"os"

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
// A match is a resend (DUP) with the packet id, topic, payload, QoS and
// retain flag of the message, over the next connection the broker accepted
// after the message's own, when that connection resumed the session (the
// CONNACK's session-present flag, which dial reads before Paho hands out
// any message of the connection). Only there can the broker resend it: a
// broker reuses a packet id once its message is acked, a new session
// numbers its messages afresh, and a message the broker forgot (a restore
// from an older snapshot) is not resent; any of them may bring, later, a
// message that looks like one the input held or acked. A held delivery that
// no resend meets is handled as it is: nothing is dropped or acked but on a
// match, and a connection whose CONNACK was not read matches nothing.
type resends struct {
	conn        uint64               // onReconnecting's calls: one per reconnect attempt, none while a connection is up
	established uint64               // connections the broker accepted so far
	resumed     bool                 // the last one resumed the session
	held        map[uint16]*delivery // QoS 1 and 2 deliveries not acked, by packet id
	lostAcks    map[uint16]lostAck   // acked over a lost connection, by packet id
	// A map by packet id holds 65,536 entries at most.
}

// lostAck is a message acked over a lost connection, and the connection it
// came over (resends.established then).
type lostAck struct {
	msg paho.Message
	est uint64
}

func newResends() *resends {
	return &resends{held: map[uint16]*delivery{}, lostAcks: map[uint16]lostAck{}}
}

// The methods below are called with the input's mu held.

// arrived stamps d, a delivery of a message that just arrived, with the
// connection it came over, and holds it.
func (r *resends) arrived(d *delivery) {
	d.conn, d.est = r.conn, r.established
	if d.msg.Qos() > 0 { // QoS 0 has no packet id, no ack, no resend
		r.held[d.msg.MessageID()] = d
	}
}

// resent settles m, a message flagged as sent before, when it is the resend
// of one the input holds or acked over a lost connection: the delivery
// takes it, or ack is to be acked (once mu is released). False when m is a
// delivery of its own.
func (r *resends) resent(m paho.Message) (ack paho.Message, ok bool) {
	if !r.resumed {
		return nil, false
	}
	pid := m.MessageID()
	if d := r.held[pid]; d != nil && d.est+1 == r.established && sameMessage(d.msg, m) {
		d.msg, d.conn, d.est = m, r.conn, r.established
		return nil, true
	}
	if a, found := r.lostAcks[pid]; found && a.est+1 == r.established && sameMessage(a.msg, m) {
		delete(r.lostAcks, pid)
		return m, true
	}
	return nil, false
}

// acked forgets d, acked now, and reports whether its ack is lost: d came
// over a lost connection, so Paho drops the ack, and its resend is acked
// when it comes.
func (r *resends) acked(d *delivery) (lost bool) {
	pid := d.msg.MessageID()
	if d.msg.Qos() == 0 || r.held[pid] != d {
		return false // no packet id; or a later message took it, so the broker forgot d
	}
	delete(r.held, pid)
	if d.conn < r.conn {
		r.lostAcks[pid] = lostAck{msg: d.msg, est: d.est}
		return true
	}
	return false
}

// lostConnection counts a lost connection: Paho calls onReconnecting once
// the connection's goroutines have stopped (no message of it comes after,
// and an ack of one is dropped) and before the next connection starts.
func (r *resends) lostConnection() { r.conn++ }

// connected counts a connection the broker accepted, which resumed the
// session or not, and forgets the lost acks that can match no more.
func (r *resends) connected(sessionPresent bool) {
	r.established++
	r.resumed = sessionPresent
	for pid, a := range r.lostAcks {
		if a.est+1 < r.established {
			delete(r.lostAcks, pid)
		}
	}
}

// sameMessage reports whether b, a resend, carries a's message.
func sameMessage(a, b paho.Message) bool {
	return a.Topic() == b.Topic() && a.Qos() == b.Qos() && a.Retained() == b.Retained() && bytes.Equal(a.Payload(), b.Payload())
}

// dial opens a connection to the broker as Paho does (its openConnection,
// which is not exported, for the schemes parse allows; the binding sets no
// OnConnectAttempt, whose TLS config Paho would use), and reports the
// session-present flag of the CONNACK that the connection opens with to
// sessionPresent, which Paho reads (packets.ReadPacket on the connection,
// unbuffered) before it hands out any message of the connection.
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
		if os.Getenv("all_proxy") == "" {
			conn, err = tls.DialWithDialer(dialer, "tcp", uri.Host, o.TLSConfig)
			break
		}
		// As Paho: through the proxy, then TLS over it (with the host as
		// ServerName, which Paho's proxy path leaves out).
		conn, err = proxy.FromEnvironment().Dial("tcp", uri.Host)
		if err == nil {
			cfg := o.TLSConfig.Clone()
			if cfg == nil {
				cfg = &tls.Config{}
			}
			if cfg.ServerName == "" {
				cfg.ServerName = uri.Hostname()
			}
			tc := tls.Client(conn, cfg)
			if err = tc.Handshake(); err != nil {
				conn.Close()
			}
			conn = tc
		}
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
