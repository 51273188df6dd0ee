package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/tetherfn/tether/bindings"
)

// errStale: the message came over a connection that has since been lost; the
// broker has requeued it already.
var errStale = errors.New("the connection the message came over was lost; the broker redelivers it")

// input consumes the queue with manual acks. Receive reads the current
// consumer's deliveries itself; one goroutine (run) waits for the consumer
// to end (the broker, the network or a channel error) and connects again.
type input struct {
	s        settings
	prefetch int
	batch    int
	counts   *redeliveries
	idPrefix string // for made-up message ids

	cur atomic.Pointer[consumer]

	mu   sync.Mutex // guards conn
	conn *amqp.Connection

	done      chan struct{}
	closeOnce sync.Once
	runDone   chan struct{}
}

// consumer is one connection's consumer.
type consumer struct {
	deliveries <-chan amqp.Delivery
	ch         *amqp.Channel
	acks       *acks
	closed     chan *amqp.Error
	gen        uint64        // connections made before, for made-up message ids
	replaced   chan struct{} // closed once the next consumer is current
}

// handle is a Message's settlement state.
type handle struct {
	msg     bindings.Message
	ch      *amqp.Channel
	acks    *acks
	tag     uint64
	key     string // redelivery-count key for classic queues; "" when untracked
	settled atomic.Bool

	delivery amqp.Delivery // without its body, for Metadata
	mdOnce   sync.Once
	md       map[string]string
}

func openInput(ctx context.Context, cfg bindings.Config) (*input, error) {
	s, err := readSettings(cfg, "input")
	if err != nil {
		return nil, err
	}
	md := cfg.Values()
	prefetch := md.Int("maxConcurrency") + md.Int("batchSize")
	if md.Has("prefetchCount") {
		prefetch = md.Int("prefetchCount")
	}
	in := &input{
		s:        s,
		prefetch: prefetch,
		batch:    max(1, md.Int("batchSize")),
		counts:   newRedeliveries(),
		idPrefix: newID()[:8],
		done:     make(chan struct{}),
		runDone:  make(chan struct{}),
	}
	c, err := in.start(0)
	if err != nil {
		return nil, err
	}
	in.cur.Store(c)
	go in.run()
	return in, nil
}

// start connects, declares the queue and starts consuming.
func (in *input) start(gen uint64) (*consumer, error) {
	conn, err := in.s.connect()
	if err != nil {
		return nil, err
	}
	msgs, ch, err := in.consume(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	in.mu.Lock()
	old := in.conn
	in.conn = conn
	in.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return &consumer{
		deliveries: msgs, ch: ch, acks: newAcks(ch, in.s.log), closed: ch.NotifyClose(make(chan *amqp.Error, 1)),
		gen: gen, replaced: make(chan struct{}),
	}, nil
}

func (in *input) consume(conn *amqp.Connection) (<-chan amqp.Delivery, *amqp.Channel, error) {
	if err := in.s.declare(conn); err != nil {
		return nil, nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Qos(in.prefetch, 0, false); err != nil {
		return nil, nil, fmt.Errorf("set prefetch %d: %w", in.prefetch, err)
	}
	msgs, err := ch.Consume(in.s.queue, "", false, false, false, false, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("consume queue %q: %w", in.s.queue, err)
	}
	return msgs, ch, nil
}

// run connects again whenever the consumer ends, until Close.
func (in *input) run() {
	defer close(in.runDone)
	b := backoff{limit: in.s.reconnectWait}
	for {
		c := in.cur.Load()
		var reason error
		select {
		case <-in.done:
			return
		case reason = <-c.closed:
		}
		if in.closed() {
			return
		}
		in.s.log.Warn("rabbitmq: consumer stopped; reconnecting", "reason", reason)
		var next *consumer
		for next == nil {
			if !in.sleep(b.delay()) {
				return
			}
			var err error
			if next, err = in.start(c.gen + 1); err != nil {
				in.s.log.Warn("rabbitmq: reconnect", "err", err)
			}
		}
		in.s.log.Info("rabbitmq: reconnected", "queue", in.s.queue)
		b.reset()
		in.cur.Store(next)
		close(c.replaced)
		c.acks.close()   // its channel is gone: the broker requeued what it held
		if in.closed() { // Close may have run while start was connecting
			next.acks.close()
			in.mu.Lock()
			in.conn.Close()
			in.mu.Unlock()
			return
		}
	}
}

func (in *input) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-in.done:
		return false
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

// Receive implements bindings.Input.
func (in *input) Receive(ctx context.Context, max int) ([]*bindings.Message, error) {
	for {
		if in.closed() {
			return nil, bindings.ErrClosed
		}
		c := in.cur.Load()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-in.done:
			return nil, bindings.ErrClosed
		case d, ok := <-c.deliveries:
			if !ok {
				// The consumer ended; its unacked messages are back in the
				// queue. Wait for the next one.
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-in.done:
					return nil, bindings.ErrClosed
				case <-c.replaced:
				}
				continue
			}
			out := make([]*bindings.Message, 1, min(max, in.batch))
			out[0] = in.toMessage(d, c)
		more:
			for len(out) < max {
				select {
				case d, ok := <-c.deliveries:
					if !ok {
						break more
					}
					out = append(out, in.toMessage(d, c))
				default:
					break more
				}
			}
			return out, nil
		}
	}
}

func (in *input) toMessage(d amqp.Delivery, c *consumer) *bindings.Message {
	// The message, its handle and what its metadata is built from, in one
	// allocation; the metadata map only when something reads it.
	h := &handle{ch: c.ch, acks: c.acks, tag: d.DeliveryTag, delivery: d}
	h.delivery.Body = nil // the message holds it; the handle may outlive the handler
	c.acks.delivered(d.DeliveryTag)
	count := 1
	if n, ok := brokerDeliveryCount(d.Headers); ok {
		count = n + 1 // quorum queues count the deliveries that came back
	} else if d.MessageId != "" {
		h.key = d.MessageId
		if d.Redelivered {
			count = 1 + max(1, in.counts.get(h.key))
		}
	} else if d.Redelivered {
		count = 2
	}
	id := d.MessageId
	if id == "" {
		id = madeUpID(in.idPrefix, c.gen, d.DeliveryTag)
	}
	h.msg = bindings.Message{
		ID:            id,
		Data:          d.Body,
		ContentType:   d.ContentType,
		DeliveryCount: count,
		Time:          d.Timestamp,
		Handle:        h,
	}
	return &h.msg
}

// madeUpID is "<prefix>-<gen>-<tag>", the id of a message published
// without one, appended without fmt (which parses its format and boxes its
// arguments, per message).
func madeUpID(prefix string, gen, tag uint64) string {
	var b strings.Builder
	b.Grow(len(prefix) + 2 + 2*20)
	b.WriteString(prefix)
	b.WriteByte('-')
	var digits [20]byte
	b.Write(strconv.AppendUint(digits[:0], gen, 10))
	b.WriteByte('-')
	b.Write(strconv.AppendUint(digits[:0], tag, 10))
	return b.String()
}

// Metadata implements bindings.LazyMetadata: the delivery's scalar headers,
// exchange, routing key, redelivered flag and the properties that are set,
// built on first use; a handler that takes the payload never pays for it.
func (h *handle) Metadata() map[string]string {
	h.mdOnce.Do(func() {
		d := &h.delivery
		md := make(map[string]string, len(d.Headers)+4)
		for k, v := range d.Headers {
			if s, ok := headerString(v); ok {
				md[k] = s
			}
		}
		md["exchange"] = d.Exchange
		md["routingKey"] = d.RoutingKey
		md["redelivered"] = strconv.FormatBool(d.Redelivered)
		setIf(md, "messageID", d.MessageId)
		setIf(md, "correlationID", d.CorrelationId)
		setIf(md, "replyTo", d.ReplyTo)
		setIf(md, "type", d.Type)
		if d.Priority != 0 {
			md["priority"] = strconv.Itoa(int(d.Priority))
		}
		h.md = md
	})
	return h.md
}

// brokerDeliveryCount reads x-delivery-count, which quorum queues set on a
// redelivery to the number of earlier deliveries that were returned.
func brokerDeliveryCount(h amqp.Table) (int, bool) {
	switch v := h["x-delivery-count"].(type) {
	case int64:
		return int(v), true
	case int32:
		return int(v), true
	case int:
		return v, true
	}
	return 0, false
}

func setIf(md map[string]string, k, v string) {
	if v != "" {
		md[k] = v
	}
}

// headerString formats a scalar header value; tables and arrays (x-death...)
// are left out.
func headerString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case bool, int, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64:
		return fmt.Sprint(x), true
	case time.Time:
		return x.UTC().Format(time.RFC3339), true
	case amqp.Decimal:
		return fmt.Sprint(x.Value), true
	}
	return "", false
}

func (in *input) settle(m *bindings.Message) (*handle, error) {
	h, ok := m.Handle.(*handle)
	if !ok {
		return nil, fmt.Errorf("message %q was not received from this binding", m.ID)
	}
	// A second ack or nack of one delivery tag is a channel error in AMQP,
	// which would requeue every other message in flight.
	if !h.settled.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("message %q is already settled", m.ID)
	}
	return h, nil
}

// Ack implements bindings.Input.
func (in *input) Ack(_ context.Context, m *bindings.Message) error {
	h, err := in.settle(m)
	if err != nil {
		return err
	}
	in.counts.forget(h.key)
	if !h.acks.ack(h.tag) {
		return fmt.Errorf("ack message %q: %w", m.ID, errStale)
	}
	return nil
}

// Nack implements bindings.Input: the message goes back to the queue at once
// (RabbitMQ has no delayed requeue), which is why the type declares no
// DelayedNack and the runtime waits out the delay first.
func (in *input) Nack(_ context.Context, m *bindings.Message, _ time.Duration) error {
	h, err := in.settle(m)
	if err != nil {
		return err
	}
	in.counts.add(h.key)
	if err := h.ch.Nack(h.tag, false, true); err != nil {
		if errors.Is(err, amqp.ErrClosed) {
			return nil // requeued by the broker when the channel closed
		}
		return fmt.Errorf("nack message %q: %w", m.ID, err)
	}
	h.acks.settled(h.tag)
	return nil
}

// DeadLetter implements bindings.DeadLetterer: with a deadLetterExchange the
// message is rejected without requeue and the broker moves it there.
func (in *input) DeadLetter(_ context.Context, m *bindings.Message, _ error) (bool, error) {
	if in.s.dlx == "" {
		return false, nil
	}
	h, err := in.settle(m)
	if err != nil {
		return false, err
	}
	in.counts.forget(h.key)
	if err := h.ch.Reject(h.tag, false); err != nil {
		if errors.Is(err, amqp.ErrClosed) {
			err = errStale
		}
		return false, fmt.Errorf("reject message %q into %q: %w", m.ID, in.s.dlx, err)
	}
	h.acks.settled(h.tag)
	return true, nil
}

// Close implements bindings.Input. It sends the acks still queued; unacked
// messages go back to the queue when the connection closes.
func (in *input) Close() error {
	in.closeOnce.Do(func() {
		close(in.done)
		in.cur.Load().acks.close()
		in.mu.Lock()
		conn := in.conn
		in.mu.Unlock()
		conn.Close()
		<-in.runDone
	})
	return nil
}

// redeliveries counts, per message id, the nacks this process sent, for
// classic queues where the broker only says "redelivered". Bounded: past
// maxTracked ids it forgets arbitrary ones (whose next count then starts
// again at 2).
type redeliveries struct {
	mu sync.Mutex
	n  map[string]int
}

const maxTracked = 1 << 16

func newRedeliveries() *redeliveries { return &redeliveries{n: map[string]int{}} }

func (r *redeliveries) get(key string) int {
	if key == "" {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[key]
}

func (r *redeliveries) add(key string) {
	if key == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.n) >= maxTracked {
		for k := range r.n {
			delete(r.n, k)
			if len(r.n) < maxTracked/2 {
				break
			}
		}
	}
	r.n[key]++
}

func (r *redeliveries) forget(key string) {
	if key == "" {
		return
	}
	r.mu.Lock()
	delete(r.n, key)
	r.mu.Unlock()
}

var _ bindings.HealthChecker = (*input)(nil)

// Healthy implements bindings.HealthChecker: the connection's state, no
// round trip.
func (in *input) Healthy(context.Context) error {
	in.mu.Lock()
	conn := in.conn
	in.mu.Unlock()
	if conn != nil && !conn.IsClosed() {
		return nil
	}
	return errors.New("not connected to RabbitMQ (reconnecting)")
}
