package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/tetherfn/tether/bindings"
)

// output publishes persistent messages on a confirm-mode channel with the
// mandatory flag: Publish returns once the broker confirmed the message, and
// fails when no queue took it.
type output struct {
	s settings

	mu     sync.Mutex // guards conn, pub, closed
	conn   *amqp.Connection
	pub    *publisher
	closed bool
}

func openOutput(_ context.Context, cfg bindings.Config) (*output, error) {
	s, err := readSettings(cfg, "output")
	if err != nil {
		return nil, err
	}
	o := &output{s: s}
	if _, err := o.publisher(); err != nil {
		return nil, err
	}
	return o, nil
}

// publisher returns the current confirm-mode channel, connecting again when
// the last one was lost.
func (o *output) publisher() (*publisher, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, bindings.ErrClosed
	}
	if o.pub != nil && !o.pub.ch.IsClosed() {
		return o.pub, nil
	}
	if o.conn != nil {
		o.conn.Close()
		o.conn, o.pub = nil, nil
	}
	conn, err := o.s.connect()
	if err != nil {
		return nil, err
	}
	if err := o.s.declare(conn); err != nil {
		conn.Close()
		return nil, err
	}
	pub, err := newPublisher(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	o.conn, o.pub = conn, pub
	return pub, nil
}

// message is one publish, from Invoke or from the typed client.
type message struct {
	exchange   string
	routingKey string
	amqp.Publishing
}

// Invoke implements bindings.Output: "create" publishes to the component's
// queue through the default exchange.
func (o *output) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req.Operation != bindings.OpCreate {
		return nil, fmt.Errorf("%w %q", bindings.ErrUnsupportedOperation, req.Operation)
	}
	m := message{routingKey: o.s.queue, Publishing: amqp.Publishing{Body: req.Data, ContentType: req.ContentType}}
	for k, v := range req.Metadata {
		switch k {
		case MetaContentType:
			if m.ContentType == "" {
				m.ContentType = v
			}
		case MetaTTL:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("metadata %q: %q is not a number of seconds", k, v)
			}
			m.Expiration = strconv.FormatInt(int64(n)*1000, 10)
		case MetaPriority:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 255 {
				return nil, fmt.Errorf("metadata %q: %q is not a priority from 0 to 255", k, v)
			}
			m.Priority = uint8(n)
		case MetaMessageID:
			m.MessageId = v
		case MetaCorrelationID:
			m.CorrelationId = v
		case MetaReplyTo:
			m.ReplyTo = v
		case MetaType:
			m.Type = v
		default:
			if m.Headers == nil {
				m.Headers = amqp.Table{}
			}
			m.Headers[k] = v
		}
	}
	if err := o.publish(ctx, &m); err != nil {
		return nil, err
	}
	return &bindings.InvokeResponse{Metadata: map[string]string{MetaMessageID: m.MessageId}}, nil
}

func (o *output) publish(ctx context.Context, m *message) error {
	if m.ContentType == "" {
		m.ContentType = o.s.contentType
	}
	if m.MessageId == "" {
		m.MessageId = newID()
	}
	m.DeliveryMode = amqp.Persistent
	if m.Timestamp.IsZero() {
		m.Timestamp = time.Now()
	}
	// One retry when the connection turns out to be gone before the
	// message left: nothing was sent, so nothing can be duplicated.
	for attempt := 1; ; attempt++ {
		pub, err := o.publisher()
		if err != nil {
			return err
		}
		err = pub.publish(ctx, m)
		if errors.Is(err, amqp.ErrClosed) && attempt == 1 {
			continue
		}
		return err
	}
}

// Close implements bindings.Output.
func (o *output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.conn == nil {
		return nil
	}
	err := o.conn.Close()
	o.conn, o.pub = nil, nil
	if err != nil && !errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

// publisher is a confirm-mode channel and the listener of its returned
// (unroutable) messages.
type publisher struct {
	ch      *amqp.Channel
	returns chan amqp.Return
	barrier chan chan struct{}
	stopped chan struct{} // the listener ended: the channel is closed

	mu       sync.Mutex
	returned map[string]amqp.Return // by message id
}

func newPublisher(conn *amqp.Connection) (*publisher, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("enable publisher confirms: %w", err)
	}
	p := &publisher{
		ch: ch,
		// Unbuffered on purpose: amqp091 hands a return over before it
		// reads the confirm that follows it, so once a publisher's confirm
		// arrived its return (if any) is in the listener's hands.
		returns:  ch.NotifyReturn(make(chan amqp.Return)),
		barrier:  make(chan chan struct{}),
		stopped:  make(chan struct{}),
		returned: map[string]amqp.Return{},
	}
	go p.listen()
	return p, nil
}

func (p *publisher) listen() {
	defer close(p.stopped)
	for {
		select {
		case r, ok := <-p.returns:
			if !ok {
				return
			}
			p.mu.Lock()
			if len(p.returned) > 1024 { // returns of publishers that gave up waiting
				clear(p.returned)
			}
			p.returned[r.MessageId] = r
			p.mu.Unlock()
		case w := <-p.barrier:
			close(w)
		}
	}
}

// takeReturn reports whether the message with id came back unroutable. It
// first lets the listener finish recording any return it has received.
func (p *publisher) takeReturn(id string) (amqp.Return, bool) {
	w := make(chan struct{})
	select {
	case p.barrier <- w:
		<-w
	case <-p.stopped:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.returned[id]
	delete(p.returned, id)
	return r, ok
}

func (p *publisher) publish(ctx context.Context, m *message) error {
	dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, m.exchange, m.routingKey, true, false, m.Publishing)
	if err != nil {
		return fmt.Errorf("publish to exchange %q with routing key %q: %w", m.exchange, m.routingKey, err)
	}
	acked, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("wait for the broker to confirm message %q (it may or may not be stored): %w", m.MessageId, err)
	}
	if !acked {
		return fmt.Errorf("broker did not confirm message %q (nack or channel closed)", m.MessageId)
	}
	if r, ok := p.takeReturn(m.MessageId); ok {
		return fmt.Errorf("message %q to exchange %q with routing key %q was returned: %d %s (no queue is bound to take it)",
			m.MessageId, m.exchange, m.routingKey, r.ReplyCode, r.ReplyText)
	}
	return nil
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead on Go 1.24+)
	return hex.EncodeToString(b)
}
