package trigger

import (
	"context"
	"sync"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/wake"
)

// inbox holds a trigger's messages received and not yet taken by a worker,
// oldest first, and the workers asleep waiting for one. The receive loop puts
// a whole batch at once and, before it receives the next, waits only while
// limit messages are waiting: the next Receive overlaps the handling of
// this batch. Workers take one message at a time and sleep only when the
// inbox is empty.
//
// A channel between the receive loop and the workers cost a hand-off per
// message and, once full, a wake-up of the receive loop for every message a
// worker took; here a busy trigger pays one lock per message and, per batch,
// one wake-up of the receive loop and at most one per sleeping worker it
// needs.
//
// Invariants, under mu:
//   - msgs[head:] are the waiting messages, oldest first; msgs[:head] are
//     nil;
//   - idle holds the workers asleep in take; woken counts the workers taken
//     off idle and woken whose take has not looked again yet. At most one
//     is woken at a time (wakeNext): put wakes one when messages wait, and
//     a woken worker that takes a message and leaves others waiting wakes
//     the next. Waking a worker for each message of a batch woke as many
//     goroutines as the batch had messages (up to maxConcurrency) while the
//     awake ones, when handlers are fast, took most of them: at
//     maxConcurrency 64 that churn cost about a quarter of the no-op throughput.
//     In turn, the workers wake as fast as the messages need them when
//     handlers are slow, and no faster than one wake-up per take;
//   - once closed, take hands out what is left, then reports the end.
type inbox struct {
	limit int

	mu     sync.Mutex
	msgs   []*bindings.Message
	head   int
	idle   []*worker
	woken  int
	closed bool
	room   wake.Signal // fired when fewer than limit messages wait
}

func newInbox(limit int) *inbox {
	limit = max(limit, 1)
	return &inbox{limit: limit, msgs: make([]*bindings.Message, 0, 2*limit)}
}

// put adds msgs after the waiting ones and wakes sleeping workers for
// them. It never waits: the receive loop bounds what it puts with
// awaitRoom, held retries are bounded by heldRetries' limit.
func (b *inbox) put(msgs ...*bindings.Message) {
	b.mu.Lock()
	if b.head > 0 && len(b.msgs)+len(msgs) > cap(b.msgs) {
		n := copy(b.msgs, b.msgs[b.head:])
		clear(b.msgs[n:])
		b.msgs, b.head = b.msgs[:n], 0
	}
	b.msgs = append(b.msgs, msgs...)
	b.wakeNext()
	b.mu.Unlock()
}

// wakeNext wakes an idle worker for the messages waiting, unless one is
// already woken: that one takes a message and wakes the next. Callers hold
// mu.
func (b *inbox) wakeNext() {
	if b.woken == 0 && len(b.msgs) > b.head && len(b.idle) > 0 {
		b.wakeOne()
	}
}

// wakeOne wakes the worker that went to sleep last: the one whose stack and
// caches are warmest. Callers hold mu.
func (b *inbox) wakeOne() {
	w := b.idle[len(b.idle)-1]
	b.idle[len(b.idle)-1] = nil
	b.idle = b.idle[:len(b.idle)-1]
	b.woken++
	w.wake <- struct{}{} // never blocks: an idle worker's channel is empty
}

// take returns the oldest waiting message, sleeping while there is none;
// false once the inbox is closed and empty.
func (b *inbox) take(w *worker) (*bindings.Message, bool) {
	b.mu.Lock()
	for b.head == len(b.msgs) {
		if b.closed {
			b.mu.Unlock()
			return nil, false
		}
		b.idle = append(b.idle, w)
		b.mu.Unlock()
		w.idle()
		<-w.wake
		b.mu.Lock()
		b.woken--
	}
	m := b.msgs[b.head]
	b.msgs[b.head] = nil
	b.head++
	if b.head == len(b.msgs) {
		b.msgs, b.head = b.msgs[:0], 0
	}
	if len(b.msgs)-b.head < b.limit {
		b.room.Fire()
	}
	b.wakeNext()
	b.mu.Unlock()
	return m, true
}

// awaitRoom waits while limit messages or more are waiting; false when ctx
// ended first.
func (b *inbox) awaitRoom(ctx context.Context) bool {
	b.mu.Lock()
	for len(b.msgs)-b.head >= b.limit {
		ch := b.room.Wait()
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
		b.mu.Lock()
	}
	b.mu.Unlock()
	return true
}

// close lets the workers drain what is waiting and then end.
func (b *inbox) close() {
	b.mu.Lock()
	b.closed = true
	for len(b.idle) > 0 {
		b.wakeOne()
	}
	b.mu.Unlock()
}

// drain takes every waiting message out, for a stop that gave up on its
// workers to give them back.
func (b *inbox) drain() []*bindings.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append([]*bindings.Message(nil), b.msgs[b.head:]...)
	clear(b.msgs)
	b.msgs, b.head = b.msgs[:0], 0
	return out
}

// len is how many messages wait; for tests.
func (b *inbox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs) - b.head
}
