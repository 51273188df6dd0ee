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
// (ackbatch): the settled prefix of delivery tags as a single multiple ack,
// and the acks past a message still being handled one by one, so that a slow
// handler never holds the prefetch window shut. Under load a frame so
// acknowledges many messages where a plain consumer sends one per message.
//
// Delivery tags are the channel's, numbered from 1 without gaps; a multiple
// ack of tag t acknowledges every message up to t still outstanding, which is
// why the prefix is only ever acked up to a tag that is itself outstanding:
// RabbitMQ closes the channel for an unknown tag.
type acks struct {
	ch     *amqp.Channel
	writer *ackbatch.Writer[uint64]

	mu   sync.Mutex
	next uint64              // the lowest delivery tag not known to be settled
	told map[uint64]struct{} // tags past next the broker was told of
}

func newAcks(ch *amqp.Channel, log *slog.Logger) *acks {
	a := &acks{ch: ch, next: 1, told: map[uint64]struct{}{}}
	a.writer = ackbatch.New(log, "ack messages", a.send)
	return a
}

// ack queues tag's ack; false once the channel's acks are closed.
func (a *acks) ack(tag uint64) bool { return a.writer.Ack(tag) }

// settled records that the broker was told of tag's fate directly (nack,
// reject), so that the prefix can pass it.
func (a *acks) settled(tag uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.told[tag] = struct{}{}
	a.pass()
}

// pass moves next past the tags the broker was told of.
func (a *acks) pass() {
	for {
		if _, ok := a.told[a.next]; !ok {
			return
		}
		delete(a.told, a.next)
		a.next++
	}
}

// send is the writer's: it acks tags, which it may not be given twice.
func (a *acks) send(_ context.Context, tags []uint64) error {
	slices.Sort(tags)
	a.mu.Lock()
	var upTo uint64 // the highest of tags in the settled prefix
	a.pass()
	for len(tags) > 0 && tags[0] == a.next {
		upTo = tags[0]
		tags = tags[1:]
		a.next++
		a.pass()
	}
	for _, t := range tags { // past a message still being handled
		a.told[t] = struct{}{}
	}
	a.mu.Unlock()
	if upTo > 0 {
		if err := a.ch.Ack(upTo, true); err != nil {
			return err
		}
	}
	for _, t := range tags {
		if err := a.ch.Ack(t, false); err != nil {
			return err
		}
	}
	return nil
}

// close sends what is queued and stops the writer.
func (a *acks) close() { a.writer.Close() }
