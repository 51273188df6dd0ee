package trigger

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// fakeInput is an input driver the test drives by hand: it delivers what the
// test puts on msgs and reports every ack, nack and lease extension on
// events, in order.
type fakeInput struct {
	msgs      chan *bindings.Message
	events    chan fakeEvent
	closeOnce sync.Once
	closed    chan struct{}
}

type fakeEvent struct {
	op    string // "ack", "nack", "extend"
	id    string
	at    time.Time
	delay time.Duration // nack delay, lease extension
}

func newFakeInput() *fakeInput {
	return &fakeInput{msgs: make(chan *bindings.Message), events: make(chan fakeEvent, 100), closed: make(chan struct{})}
}

func (f *fakeInput) Receive(ctx context.Context, _ int) ([]*bindings.Message, error) {
	select {
	case m := <-f.msgs:
		return []*bindings.Message{m}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-f.closed:
		return nil, bindings.ErrClosed
	}
}

func (f *fakeInput) Ack(_ context.Context, m *bindings.Message) error {
	f.events <- fakeEvent{op: "ack", id: m.ID, at: time.Now()}
	return nil
}

func (f *fakeInput) Nack(_ context.Context, m *bindings.Message, delay time.Duration) error {
	f.events <- fakeEvent{op: "nack", id: m.ID, at: time.Now(), delay: delay}
	return nil
}

func (f *fakeInput) Close() error {
	f.closeOnce.Do(func() { close(f.closed) })
	return nil
}

// leaseInput is a fakeInput whose broker has leases.
type leaseInput struct{ *fakeInput }

func (l leaseInput) ExtendLeases(_ context.Context, msgs []*bindings.Message, d time.Duration) error {
	for _, m := range msgs {
		l.events <- fakeEvent{op: "extend", id: m.ID, at: time.Now(), delay: d}
	}
	return nil
}

var discardLogger = slog.New(slog.DiscardHandler)
