package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/wake"
)

// input holds one QoS 1 subscription on a persistent session. Paho calls
// onMessage in order from its router goroutine; onMessage queues the message
// for Receive and never waits: while the router waits, Paho processes no
// other packet, so a SUBACK never completes the subscription that opening
// waits for, and PINGRESPs go unread until the keepalive drops the
// connection. The queue is unbounded: what bounds it is what the broker
// sends unacked, its in-flight window (mosquitto's max_inflight_messages)
// in steady state, but at a reconnect mosquitto 2.0 sends a session's whole
// backlog at once (the fault test sees hundreds).
type input struct {
	s        settings
	log      *slog.Logger
	clientID string
	client   paho.Client

	mu       sync.Mutex  // guards the fields below
	requeued []*delivery // nacked: handed out again first
	arrived  []*delivery // from the broker, not handed out yet
	ready    wake.Signal // fired when either grows
	resends  *resends    // matches the broker's resends with what the input holds; nil on a clean session (no resends)

	subscribed   chan error // result of the first subscription
	subscribeOne sync.Once

	idPrefix string
	seq      atomic.Uint64

	done      chan struct{}
	closeOnce sync.Once
}

// delivery is one message as the broker sent it, and what this process
// knows about it.
type delivery struct {
	msg   paho.Message // the message to ack: the broker's resend, once one met it (resends)
	id    string
	count int
	dup   bool   // the broker flagged it as sent before, when it first came
	conn  uint64 // the connection msg came over: resends.conn then
	est   uint64 // and resends.established then
}

// handle is what one Receive handed out: settled once, by Ack or Nack.
type handle struct {
	d       *delivery
	settled atomic.Bool
}

func openInput(ctx context.Context, cfg bindings.Config) (*input, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	prefix := make([]byte, 6)
	_, _ = rand.Read(prefix)
	in := &input{
		s:          s,
		log:        cfg.Logger,
		clientID:   s.consumerID + "-consumer",
		subscribed: make(chan error, 1),
		idPrefix:   hex.EncodeToString(prefix),
		done:       make(chan struct{}),
	}
	opts := s.options(in.clientID, in.log).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		// Every message goes to onMessage, also those the broker resends
		// right after CONNACK, before the subscription is renewed.
		SetDefaultPublishHandler(in.onMessage).
		SetOnConnectHandler(in.onConnect)
	if !s.cleanSession {
		in.resends = newResends()
		opts.SetReconnectingHandler(in.onReconnecting).
			SetCustomOpenConnectionFn(func(u *url.URL, o paho.ClientOptions) (net.Conn, error) {
				return dial(u, o, in.sessionPresent)
			})
	}
	in.client = paho.NewClient(opts)
	if err := wait(ctx, in.client.Connect(), 30*time.Second, "connect to "+s.broker+" as "+in.clientID); err != nil {
		in.client.Disconnect(0)
		return nil, err
	}
	select {
	case err = <-in.subscribed:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		in.closeOnce.Do(func() { close(in.done) })
		in.client.Disconnect(0)
		return nil, err
	}
	return in, nil
}

// onConnect (re)subscribes after every connect. On a persistent session the
// broker kept the subscription; subscribing again is harmless and makes a
// changed qos take effect.
func (in *input) onConnect(c paho.Client) {
	// nil callback: messages go to the default handler, onMessage.
	err := wait(context.Background(), c.Subscribe(in.s.topic, in.s.qos, nil), 30*time.Second, "subscribe to "+in.s.topic)
	if err != nil {
		in.log.Error("mqtt: subscribe", "client", in.clientID, "err", err)
	}
	in.subscribeOne.Do(func() { in.subscribed <- err })
}

func (in *input) onMessage(_ paho.Client, m paho.Message) {
	in.mu.Lock()
	if in.closed() {
		in.mu.Unlock()
		return // not acked: the broker keeps it in the session for the next connection
	}
	if in.resends != nil && m.Duplicate() {
		if ack, ok := in.resends.resent(m); ok {
			in.mu.Unlock()
			if ack != nil {
				ack.Ack()
			}
			return
		}
	}
	d := &delivery{msg: m, id: in.idPrefix + "-" + strconv.FormatUint(in.seq.Add(1), 10), count: 1, dup: m.Duplicate()}
	if d.dup {
		d.count = 2 // sent before, to an earlier connection of this session
	}
	if in.resends != nil {
		in.resends.arrived(d)
	}
	in.arrived = append(in.arrived, d)
	in.ready.Fire()
	in.mu.Unlock()
}

// onReconnecting is Paho's OnReconnecting: see resends.lostConnection.
func (in *input) onReconnecting(paho.Client, *paho.ClientOptions) {
	in.mu.Lock()
	in.resends.lostConnection()
	in.mu.Unlock()
}

// sessionPresent gets the CONNACK's flag of each connection (dial).
func (in *input) sessionPresent(present bool) {
	in.mu.Lock()
	in.resends.connected(present)
	in.mu.Unlock()
}

func (in *input) closed() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// Receive implements bindings.Input. Messages a nack gave back come first.
func (in *input) Receive(ctx context.Context, max int) ([]*bindings.Message, error) {
	for {
		if in.closed() {
			return nil, bindings.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		in.mu.Lock()
		out := in.takeLocked(max)
		var ready <-chan struct{}
		if len(out) == 0 {
			ready = in.ready.Wait()
		}
		in.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-in.done:
			return nil, bindings.ErrClosed
		case <-ready:
		}
	}
}

// takeLocked hands out up to max messages: requeued ones, then arrived ones.
func (in *input) takeLocked(max int) []*bindings.Message {
	n := min(max, len(in.requeued)+len(in.arrived))
	if n == 0 {
		return nil
	}
	out := make([]*bindings.Message, 0, n)
	take := func(q []*delivery) []*delivery {
		k := min(n-len(out), len(q))
		for _, d := range q[:k] {
			out = append(out, toMessage(d))
		}
		clear(q[:k]) // let the taken ones go
		if k == len(q) {
			return nil
		}
		return q[k:]
	}
	in.requeued = take(in.requeued)
	in.arrived = take(in.arrived)
	return out
}

func toMessage(d *delivery) *bindings.Message {
	m := d.msg
	return &bindings.Message{
		ID:   d.id,
		Data: m.Payload(),
		Metadata: map[string]string{
			"topic":     m.Topic(),
			"qos":       strconv.Itoa(int(m.Qos())),
			"retained":  strconv.FormatBool(m.Retained()),
			"duplicate": strconv.FormatBool(d.dup),
		},
		DeliveryCount: d.count,
		Key:           m.Topic(),
		Handle:        &handle{d: d},
	}
}

func settle(m *bindings.Message) (*delivery, error) {
	h, ok := m.Handle.(*handle)
	if !ok {
		return nil, fmt.Errorf("message %q was not received from this binding", m.ID)
	}
	if !h.settled.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("message %q is already settled", m.ID)
	}
	return h.d, nil
}

// Ack implements bindings.Input with a PUBACK. MQTT does not confirm it: an
// ack lost with the connection means the broker sends the message again
// when the client reconnects. An ack of a message that came over a lost
// connection is made good on its resend (resends). Ack reports an error
// when the client is not connected at the time and the ack is not made
// good so, as it is then certainly dropped.
func (in *input) Ack(_ context.Context, m *bindings.Message) error {
	d, err := settle(m)
	if err != nil {
		return err
	}
	in.mu.Lock()
	ack, lost := d.msg, false
	if in.resends != nil {
		lost = in.resends.acked(d) && !in.closed()
	}
	in.mu.Unlock()
	ack.Ack()
	if !lost && !in.client.IsConnectionOpen() {
		return fmt.Errorf("ack message %q: %w; the broker sends it again on reconnect", m.ID, errNotConnected)
	}
	return nil
}

// Nack implements bindings.Input. MQTT 3 cannot give a message back, so it
// goes back to this input's own queue, unacked at the broker (which keeps it
// for this session should the process stop), with its count raised.
func (in *input) Nack(_ context.Context, m *bindings.Message, _ time.Duration) error {
	d, err := settle(m)
	if err != nil {
		return err
	}
	d.count++
	in.mu.Lock()
	in.requeued = append(in.requeued, d)
	in.ready.Fire()
	in.mu.Unlock()
	return nil
}

// Close implements bindings.Input. It disconnects without unsubscribing: the
// session keeps the subscription and the unacked messages, which the broker
// sends to the next connection with the same client id.
func (in *input) Close() error {
	in.closeOnce.Do(func() {
		close(in.done)
		in.flushAcks()
		in.client.Disconnect(250)
	})
	return nil
}

// flushAcks makes sure the broker has processed the PUBACKs sent so far: it
// answers an UNSUBSCRIBE (of a topic never subscribed) only after the
// packets before it. Without this, acks sent just before the disconnect can
// be lost when the socket closes with unread data (a TCP reset), and their
// messages come back to the next connection.
func (in *input) flushAcks() {
	if !in.client.IsConnectionOpen() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wait(ctx, in.client.Unsubscribe("tether/flush/"+in.idPrefix), 5*time.Second, "flush acks"); err != nil {
		in.log.Warn("mqtt: acks sent just before closing may be lost (their messages come again)", "err", err)
	}
}

var _ bindings.HealthChecker = (*input)(nil)

// Healthy implements bindings.HealthChecker: the client's connection state,
// no round trip.
func (in *input) Healthy(context.Context) error {
	if in.client.IsConnectionOpen() {
		return nil
	}
	return fmt.Errorf("not connected to the MQTT broker (reconnecting)")
}
