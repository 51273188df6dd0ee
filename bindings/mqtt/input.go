package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tetherfn/tether/bindings"
)

// input holds one QoS 1 subscription on a persistent session. Paho calls
// onMessage in order from its router goroutine; onMessage hands the message
// to Receive through a channel. The broker's in-flight window (Mosquitto's
// max_inflight_messages, 20 by default) bounds how many unacked messages
// there are, so the channel, larger than that, does not block Paho.
type input struct {
	s        settings
	log      *slog.Logger
	clientID string
	client   paho.Client

	deliveries chan *delivery

	mu       sync.Mutex // guards requeued
	requeued []*delivery
	wake     chan struct{} // a nack requeued something

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
	msg   paho.Message
	id    string
	count int
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
		deliveries: make(chan *delivery, max(256, cfg.Values().Int("batchSize"))),
		wake:       make(chan struct{}, 1),
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
	d := &delivery{msg: m, id: in.idPrefix + "-" + strconv.FormatUint(in.seq.Add(1), 10), count: 1}
	if m.Duplicate() {
		d.count = 2 // sent before, to an earlier connection of this session
	}
	select {
	case in.deliveries <- d:
	case <-in.done:
		// Not acked: the broker keeps it in the session for the next
		// connection.
	}
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
		if out := in.takeRequeued(max); len(out) > 0 {
			return in.fill(out, max), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-in.done:
			return nil, bindings.ErrClosed
		case d := <-in.deliveries:
			return in.fill([]*bindings.Message{toMessage(d)}, max), nil
		case <-in.wake:
		}
	}
}

func (in *input) takeRequeued(max int) []*bindings.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := min(max, len(in.requeued))
	if n == 0 {
		return nil
	}
	out := make([]*bindings.Message, n)
	for i, d := range in.requeued[:n] {
		out[i] = toMessage(d)
	}
	in.requeued = in.requeued[n:]
	return out
}

// fill adds what is already waiting, up to max.
func (in *input) fill(out []*bindings.Message, max int) []*bindings.Message {
	for len(out) < max {
		select {
		case d := <-in.deliveries:
			out = append(out, toMessage(d))
		default:
			return out
		}
	}
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
			"duplicate": strconv.FormatBool(m.Duplicate()),
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
// when the client reconnects. Ack reports an error when the client is not
// connected at the time, as the ack is then certainly dropped.
func (in *input) Ack(_ context.Context, m *bindings.Message) error {
	d, err := settle(m)
	if err != nil {
		return err
	}
	d.msg.Ack()
	if !in.client.IsConnectionOpen() {
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
	in.mu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
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
