package memory

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory/internal/wire"
)

// broker is this process's connection to a broker process (see Serve),
// shared by every memory component of the process. A broken connection is
// dialled again on the next call; inputs reopen themselves on it.
type broker struct {
	addr string

	mu     sync.Mutex
	client *rpc.Client
}

var brokers sync.Map // address → *broker

func brokerAt(addr string) *broker {
	b, _ := brokers.LoadOrStore(addr, &broker{addr: addr})
	return b.(*broker)
}

// conn returns the live connection, dialling one when there is none.
func (b *broker) conn() (*rpc.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client != nil {
		return b.client, nil
	}
	c, err := net.DialTimeout("tcp", b.addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("memory broker %s (%s): %w", b.addr, BrokerEnv, err)
	}
	b.client = rpc.NewClient(c)
	return b.client, nil
}

// broken forgets c when a call found it dead, so the next call dials again.
func (b *broker) broken(c *rpc.Client, err error) {
	if !errors.Is(err, rpc.ErrShutdown) && !isNetError(err) {
		return
	}
	b.mu.Lock()
	if b.client == c {
		b.client = nil
		c.Close()
	}
	b.mu.Unlock()
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || err.Error() == "unexpected EOF"
}

// statusError turns a reply's status back into an error wrapping the
// sentinel the broker's queue returned.
func statusError(s wire.Status) error {
	if s.Error == "" {
		return nil
	}
	var sentinel error
	switch s.Code {
	case wire.CodeClosed:
		sentinel = bindings.ErrClosed
	case wire.CodeSettled:
		sentinel = ErrSettled
	case wire.CodeFull:
		sentinel = ErrFull
	case wire.CodeUnsupported:
		sentinel = bindings.ErrUnsupportedOperation
	default:
		return errors.New(s.Error)
	}
	return &remoteError{msg: s.Error, sentinel: sentinel}
}

type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// remoteInput receives from a queue of the broker.
type remoteInput struct {
	b      *broker
	queue  string
	closed atomic.Bool
	calls  atomic.Uint64

	mu     sync.Mutex
	client *rpc.Client // the connection id belongs to; nil until opened
	id     uint64
}

// remoteHandle is a remote message's Handle: the delivery on the broker.
type remoteHandle struct {
	client *rpc.Client
	input  uint64
	handle uint64
}

func newRemoteInput(addr string, s settings) (*remoteInput, error) {
	in := &remoteInput{b: brokerAt(addr), queue: s.queue}
	if _, _, err := in.open(); err != nil {
		return nil, err
	}
	return in, nil
}

// open returns the input's connection and id on the broker, opening it
// again when the connection it was opened on broke.
func (in *remoteInput) open() (*rpc.Client, uint64, error) {
	c, err := in.b.conn()
	if err != nil {
		return nil, 0, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.client == c {
		return c, in.id, nil
	}
	var reply wire.OpenReply
	if err := c.Call(wire.Service+".Open", wire.OpenArgs{Queue: in.queue}, &reply); err != nil {
		in.b.broken(c, err)
		return nil, 0, fmt.Errorf("memory queue %q: open on broker %s: %w", in.queue, in.b.addr, err)
	}
	if err := statusError(reply.Status); err != nil {
		return nil, 0, err
	}
	in.client, in.id = c, reply.Input
	return c, in.id, nil
}

func (in *remoteInput) Receive(ctx context.Context, limit int) ([]*bindings.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if in.closed.Load() {
		return nil, fmt.Errorf("memory queue %q: receive: %w", in.queue, bindings.ErrClosed)
	}
	c, id, err := in.open()
	if err != nil {
		return nil, err
	}
	args := wire.ReceiveArgs{Input: id, Call: in.calls.Add(1), Limit: max(limit, 1)}
	var reply wire.ReceiveReply
	call := c.Go(wire.Service+".Receive", args, &reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
	case <-ctx.Done():
		c.Go(wire.Service+".Cancel", wire.CancelArgs{Input: id, Call: args.Call}, &wire.Empty{}, make(chan *rpc.Call, 1))
		<-call.Done
		// Messages that came back anyway are handed back at once.
		for _, m := range reply.Messages {
			c.Go(wire.Service+".Settle", wire.SettleArgs{Input: id, Handle: m.Handle, Nack: true}, &wire.Empty{}, make(chan *rpc.Call, 1))
		}
		return nil, ctx.Err()
	}
	if call.Error != nil {
		in.b.broken(c, call.Error)
		return nil, fmt.Errorf("memory queue %q: receive from broker %s: %w", in.queue, in.b.addr, call.Error)
	}
	if err := statusError(reply.Status); err != nil {
		if in.closed.Load() {
			return nil, fmt.Errorf("memory queue %q: receive: %w", in.queue, bindings.ErrClosed)
		}
		return nil, err
	}
	msgs := make([]*bindings.Message, len(reply.Messages))
	for i, w := range reply.Messages {
		msgs[i] = &bindings.Message{
			ID: w.ID, Data: w.Data, ContentType: w.ContentType, Metadata: w.Metadata,
			DeliveryCount: w.DeliveryCount, Key: w.Key, Time: w.Time,
			Handle: &remoteHandle{client: c, input: id, handle: w.Handle},
		}
	}
	return msgs, nil
}

func (in *remoteInput) settle(m *bindings.Message, nack bool, delay time.Duration) error {
	op := "ack"
	if nack {
		op = "nack"
	}
	if m == nil {
		return fmt.Errorf("memory queue %q: %s: nil message", in.queue, op)
	}
	h, ok := m.Handle.(*remoteHandle)
	if !ok || h == nil {
		return fmt.Errorf("memory queue %q: %s message %q: not received from a memory input", in.queue, op, m.ID)
	}
	var reply wire.Empty
	err := h.client.Call(wire.Service+".Settle", wire.SettleArgs{Input: h.input, Handle: h.handle, Nack: nack, Delay: delay}, &reply)
	if err != nil {
		in.b.broken(h.client, err)
		// The connection is gone, and with it the delivery: the broker gave
		// the message back to the queue when the connection ended.
		return fmt.Errorf("memory queue %q: %s message %s: broker connection lost, the message was given back: %w (%w)", in.queue, op, m.ID, bindings.ErrClosed, err)
	}
	return statusError(reply.Status)
}

func (in *remoteInput) Ack(_ context.Context, m *bindings.Message) error {
	return in.settle(m, false, 0)
}

func (in *remoteInput) Nack(_ context.Context, m *bindings.Message, delay time.Duration) error {
	return in.settle(m, true, delay)
}

func (in *remoteInput) Close() error {
	if in.closed.Swap(true) {
		return nil
	}
	in.mu.Lock()
	c, id := in.client, in.id
	in.mu.Unlock()
	if c == nil {
		return nil
	}
	var reply wire.Empty
	if err := c.Call(wire.Service+".Close", wire.CloseArgs{Input: id}, &reply); err != nil {
		in.b.broken(c, err)
		return nil // the connection is gone: the broker closed the input with it
	}
	return statusError(reply.Status)
}

// remoteOutput invokes operations on a queue of the broker.
type remoteOutput struct {
	b         *broker
	queue     string
	maxLength int
	closed    atomic.Bool
}

func (o *remoteOutput) Invoke(_ context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("memory queue %q: nil request", o.queue)
	}
	if o.closed.Load() {
		return nil, fmt.Errorf("memory queue %q: %s: %w", o.queue, req.Operation, bindings.ErrClosed)
	}
	c, err := o.b.conn()
	if err != nil {
		return nil, err
	}
	var reply wire.InvokeReply
	args := wire.InvokeArgs{Queue: o.queue, MaxLength: o.maxLength, Operation: string(req.Operation),
		Data: req.Data, ContentType: req.ContentType, Metadata: req.Metadata}
	if err := c.Call(wire.Service+".Invoke", args, &reply); err != nil {
		o.b.broken(c, err)
		return nil, fmt.Errorf("memory queue %q: %s on broker %s: %w", o.queue, req.Operation, o.b.addr, err)
	}
	if err := statusError(reply.Status); err != nil {
		return nil, err
	}
	if !reply.HasResponse {
		return nil, nil
	}
	return &bindings.InvokeResponse{Data: reply.Data, ContentType: reply.ContentType, Metadata: reply.Metadata}, nil
}

func (o *remoteOutput) Close() error {
	o.closed.Store(true)
	return nil
}
