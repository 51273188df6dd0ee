package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/tetherfn/tether/bindings"
)

// errStale: the message came over a connection that has since been lost; the
// broker has requeued it already.
var errStale = errors.New("the connection the message came over was lost; the broker redelivers it")

// input consumes the queue with manual acks. One goroutine (run) forwards
// deliveries to Receive and, when the connection drops, connects again.
type input struct {
	s        settings
	prefetch int

	deliveries chan delivery
	counts     *redeliveries

	mu   sync.Mutex // guards conn
	conn *amqp.Connection

	done      chan struct{}
	closeOnce sync.Once
	runDone   chan struct{}
	conns     atomic.Uint64 // connections made, for made-up message ids
}

type delivery struct {
	d  amqp.Delivery
	ch *amqp.Channel
}

// handle is a Message's settlement state.
type handle struct {
	ch      *amqp.Channel
	tag     uint64
	key     string // redelivery-count key for classic queues; "" when untracked
	settled atomic.Bool
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
		s:          s,
		prefetch:   prefetch,
		deliveries: make(chan delivery, max(1, md.Int("batchSize"))),
		counts:     newRedeliveries(),
		done:       make(chan struct{}),
		runDone:    make(chan struct{}),
	}
	msgs, ch, err := in.start()
	if err != nil {
		return nil, err
	}
	go in.run(msgs, ch)
	return in, nil
}

// start connects, declares the queue and starts consuming.
func (in *input) start() (<-chan amqp.Delivery, *amqp.Channel, error) {
	conn, err := in.s.connect()
	if err != nil {
		return nil, nil, err
	}
	msgs, ch, err := in.consume(conn)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	in.mu.Lock()
	old := in.conn
	in.conn = conn
	in.mu.Unlock()
	if old != nil {
		old.Close()
	}
	in.conns.Add(1)
	return msgs, ch, nil
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

// run forwards deliveries until Close, reconnecting whenever the broker,
// the network or a channel error ends the consumer.
func (in *input) run(msgs <-chan amqp.Delivery, ch *amqp.Channel) {
	defer close(in.runDone)
	b := backoff{limit: in.s.reconnectWait}
	for {
		for d := range msgs {
			select {
			case in.deliveries <- delivery{d: d, ch: ch}:
			case <-in.done:
				return
			}
		}
		if in.closed() {
			return
		}
		reason := "consumer channel closed"
		if err := ch.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
			reason = err.Error()
		}
		in.s.log.Warn("rabbitmq: consumer stopped; reconnecting", "reason", reason)
		for {
			if !in.sleep(b.delay()) {
				return
			}
			var err error
			msgs, ch, err = in.start()
			if err == nil {
				in.s.log.Info("rabbitmq: reconnected", "queue", in.s.queue)
				b.reset()
				break
			}
			in.s.log.Warn("rabbitmq: reconnect", "err", err)
		}
		if in.closed() { // Close may have run while start was connecting
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
	var out []*bindings.Message
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-in.done:
		return nil, bindings.ErrClosed
	case d := <-in.deliveries:
		out = make([]*bindings.Message, 0, min(max, 1+len(in.deliveries)))
		out = append(out, in.toMessage(d))
	}
	for len(out) < max {
		select {
		case d := <-in.deliveries:
			out = append(out, in.toMessage(d))
		default:
			return out, nil
		}
	}
	return out, nil
}

func (in *input) toMessage(dl delivery) *bindings.Message {
	d := dl.d
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

	h := &handle{ch: dl.ch, tag: d.DeliveryTag}
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
		id = fmt.Sprintf("delivery-%d-%d", in.conns.Load(), d.DeliveryTag)
	}
	return &bindings.Message{
		ID:            id,
		Data:          d.Body,
		ContentType:   d.ContentType,
		Metadata:      md,
		DeliveryCount: count,
		Time:          d.Timestamp,
		Handle:        h,
	}
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
	if err := h.ch.Ack(h.tag, false); err != nil {
		if errors.Is(err, amqp.ErrClosed) {
			return fmt.Errorf("ack message %q: %w", m.ID, errStale)
		}
		return fmt.Errorf("ack message %q: %w", m.ID, err)
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
	return true, nil
}

// Close implements bindings.Input. Unacked messages go back to the queue
// when the connection closes.
func (in *input) Close() error {
	in.closeOnce.Do(func() {
		close(in.done)
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
