package rabbitmq

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/tetherfn/tether/bindings/internal/ackbatch"
)

// acks sends one channel's acknowledgements from one goroutine
// (ackbatch): the acks below the oldest message still outstanding as a
// single multiple ack, and those above it one by one, so that a slow handler
// never holds the prefetch window shut. Under load a frame so acknowledges
// many messages where a plain consumer sends one per message.
//
// A multiple ack of tag t acknowledges every message up to t the broker still
// waits for, which is why it is only sent below the oldest outstanding
// message, and only for a tag in the batch: RabbitMQ closes the channel for
// an unknown tag. Outstanding tags (delivered, not settled) are bounded by
// the prefetch, whatever the age of the oldest.
type acks struct {
	ch     *amqp.Channel
	writer *ackbatch.Writer[uint64]

	mu          sync.Mutex
	outstanding []uint64 // delivered and neither sent an ack nor nacked, ascending
}

func newAcks(ch *amqp.Channel, log *slog.Logger) *acks {
	a := &acks{ch: ch}
	a.writer = ackbatch.New(log, "ack messages", a.send)
	return a
}

// delivered records a delivery; tags come in ascending order.
func (a *acks) delivered(tag uint64) {
	a.mu.Lock()
	a.outstanding = append(a.outstanding, tag)
	a.mu.Unlock()
}

// ack queues tag's ack; false once the channel's acks are closed.
func (a *acks) ack(tag uint64) bool { return a.writer.Ack(tag) }

// settled records that the broker was told of tag's fate directly (nack,
// reject).
func (a *acks) settled(tag uint64) {
	a.mu.Lock()
	a.remove(tag)
	a.mu.Unlock()
}

func (a *acks) remove(tag uint64) {
	if i, ok := slices.BinarySearch(a.outstanding, tag); ok {
		a.outstanding = slices.Delete(a.outstanding, i, i+1)
	}
}

// send is the writer's: it acks tags, which it is never given twice.
func (a *acks) send(_ context.Context, tags []uint64) error {
	slices.Sort(tags)
	a.mu.Lock()
	for _, t := range tags {
		a.remove(t)
	}
	below := len(tags) // tags[:below] are below every outstanding message
	if len(a.outstanding) > 0 {
		below, _ = slices.BinarySearch(tags, a.outstanding[0])
	}
	a.mu.Unlock()
	if below > 0 {
		if err := a.ch.Ack(tags[below-1], true); err != nil {
			return err
		}
	}
	for _, t := range tags[below:] { // past a message still being handled
		if err := a.ch.Ack(t, false); err != nil {
			return err
		}
	}
	return nil
}

// close sends what is queued and stops the writer.
func (a *acks) close() { a.writer.Close() }
