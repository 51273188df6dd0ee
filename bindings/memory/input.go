package memory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// input receives from one queue. Several inputs on a queue compete: each
// message goes to one of them.
type input struct {
	q    *queue
	done chan struct{} // closed by Close

	// Guarded by q.mu.
	closed bool
	flight list // entries received and not settled
}

func newInput(cfg bindings.Config) (*input, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	q := lookup(s.queue, true)
	in := &input{q: q, done: make(chan struct{})}
	q.mu.Lock()
	q.inputs[in] = struct{}{}
	q.mu.Unlock()
	return in, nil
}

// Receive blocks until messages are ready and returns up to max of them, in
// queue order.
func (in *input) Receive(ctx context.Context, limit int) ([]*bindings.Message, error) {
	limit = max(limit, 1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := in.q
	waiting := false
	for {
		q.mu.Lock()
		if waiting {
			q.waiting--
			waiting = false
		}
		if in.closed {
			q.unlockAndWake() // pass on the token we may have taken
			return nil, in.closedError("receive")
		}
		if q.ready.n > 0 {
			batch := in.take(min(q.ready.n, limit))
			q.unlockAndWake() // for the messages we left
			return batch, nil
		}
		q.waiting++
		waiting = true
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			q.stopWaiting()
			return nil, ctx.Err()
		case <-in.done:
			q.stopWaiting()
			return nil, in.closedError("receive")
		}
	}
}

// take moves n ready entries in flight to in. Callers hold q.mu.
func (in *input) take(n int) []*bindings.Message {
	if n == 1 {
		e := in.deliver()
		e.one[0] = &e.msg
		return e.one[:1:1]
	}
	batch := make([]*bindings.Message, n)
	for i := range batch {
		batch[i] = &in.deliver().msg
	}
	return batch
}

func (in *input) deliver() *entry {
	e := in.q.ready.popFront()
	e.state = stateInFlight
	e.owner = in
	in.flight.push(e)
	in.q.inFlight++
	return e
}

// Ack removes m from the queue.
func (in *input) Ack(_ context.Context, m *bindings.Message) error {
	in.q.mu.Lock()
	defer in.q.mu.Unlock()
	return in.ackLocked(m)
}

// AckBatch implements bindings.BatchAcker: Ack for each of msgs, under
// one lock of the queue.
func (in *input) AckBatch(_ context.Context, msgs []*bindings.Message) error {
	in.q.mu.Lock()
	defer in.q.mu.Unlock()
	var errs []error
	for _, m := range msgs {
		if err := in.ackLocked(m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ackLocked acks m. Callers hold q.mu.
func (in *input) ackLocked(m *bindings.Message) error {
	e, err := in.entryOf(m, "ack")
	if err != nil {
		return err
	}
	if err := in.settle(e, "ack"); err != nil {
		return err
	}
	e.state = stateAcked
	in.q.journal.done(e)
	return nil
}

// Nack puts m back at its place in the queue, with DeliveryCount+1, once
// delay has passed. It never waits for the delay.
func (in *input) Nack(_ context.Context, m *bindings.Message, delay time.Duration) error {
	e, err := in.entryOf(m, "nack")
	if err != nil {
		return err
	}
	q := in.q
	q.mu.Lock()
	if err := in.settle(e, "nack"); err != nil {
		q.mu.Unlock()
		return err
	}
	e.state = stateNacked
	q.requeue(redelivery(e), delay)
	q.unlockAndWake()
	return nil
}

// Close stops receiving and gives every message in flight back to the queue
// at its original place, with DeliveryCount+1. The deliveries it takes back
// are over: acking or nacking one of them afterwards fails with an error
// wrapping bindings.ErrClosed and changes nothing, so each of those messages
// is delivered exactly once more.
func (in *input) Close() error {
	q := in.q
	q.mu.Lock()
	if in.closed {
		q.mu.Unlock()
		return nil
	}
	in.closed = true
	close(in.done)
	delete(q.inputs, in)
	for in.flight.head != nil {
		e := in.flight.head
		in.flight.remove(e)
		q.inFlight--
		e.owner = nil
		e.state = stateReturned
		q.requeue(redelivery(e), 0)
	}
	q.unlockAndWake()
	return nil
}

func (in *input) entryOf(m *bindings.Message, op string) (*entry, error) {
	if m == nil {
		return nil, fmt.Errorf("memory queue %q: %s: nil message", in.q.name, op)
	}
	e, ok := m.Handle.(*entry)
	if !ok || e == nil {
		return nil, fmt.Errorf("memory queue %q: %s message %q: not received from a memory input", in.q.name, op, m.ID)
	}
	return e, nil
}

// settle takes e out of flight for an ack or nack, or says why it cannot.
// Callers hold q.mu.
func (in *input) settle(e *entry, op string) error {
	switch {
	case e.state == stateInFlight && e.owner == in:
		in.flight.remove(e)
		in.q.inFlight--
		e.owner = nil
		return nil
	case e.state == stateInFlight:
		return fmt.Errorf("memory queue %q: %s message %s: received by another input", in.q.name, op, e.msg.ID)
	case e.state == stateReturned:
		return fmt.Errorf("memory queue %q: %s message %s: the input was closed before it was settled and gave it back to the queue: %w", in.q.name, op, e.msg.ID, bindings.ErrClosed)
	case e.state == stateAcked:
		return fmt.Errorf("memory queue %q: %s message %s: already acked: %w", in.q.name, op, e.msg.ID, ErrSettled)
	case e.state == stateNacked:
		return fmt.Errorf("memory queue %q: %s message %s: already nacked: %w", in.q.name, op, e.msg.ID, ErrSettled)
	case e.state == stateDropped:
		return fmt.Errorf("memory queue %q: %s message %s: dropped by Reset: %w", in.q.name, op, e.msg.ID, ErrSettled)
	}
	// Ready or delayed: a copy of a message whose delivery is not this one.
	return fmt.Errorf("memory queue %q: %s message %s: not in flight: %w", in.q.name, op, e.msg.ID, ErrSettled)
}

func (in *input) closedError(op string) error {
	return fmt.Errorf("memory queue %q: %s: %w", in.q.name, op, bindings.ErrClosed)
}
