package trigger

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/wake"
)

// inbox holds a trigger's messages received and not yet taken by a worker,
// oldest first, and the workers asleep waiting for one. The receive loop puts
// a whole batch at once and, before it receives the next, waits only while
// limit messages are waiting: the next Receive overlaps the handling of
// this batch.
//
// A worker whose handlers are fast (worker.fast) takes a run of messages at
// once: its share of those waiting, divided among the workers awake, up to
// maxRun. It then claims them one by one without the inbox's lock, and
// acks the ones handled at the end of the run (worker.loop). Taking and
// acking one message at a time, workers running side by side on two cores
// took shared locks for each message (the inbox's, then the ack's), and at
// maxConcurrency 64 a no-op trigger handled a fifth fewer messages than at
// 1. A worker whose handlers are slow takes one message at a time: the
// waiting ones go to as many workers as there are.
//
// A run's messages not yet claimed stay in reach of the other workers: one
// that finds nothing waiting steals half of them before it sleeps (steal),
// and while a run has messages not claimed, a sleeping worker is woken to
// look, as for messages waiting. So a message of a run never waits behind
// a handler that turned slow while a worker sleeps. A stop giving up on
// stuck workers takes them back too (drain).
//
// Invariants, under mu:
//   - msgs[head:] are the waiting messages, oldest first; msgs[:head] are
//     nil;
//   - idle holds the workers asleep in take; woken counts the workers taken
//     off idle and woken whose take has not looked again yet. At most one
//     is woken at a time (wakeNext): put wakes one when messages wait, and
//     a woken worker that takes or steals messages and leaves others
//     waiting or unclaimed in a run wakes the next. Waking a worker for each message of a batch woke as many
//     goroutines as the batch had messages (up to maxConcurrency) while the
//     awake ones, when handlers are fast, took most of them: at
//     maxConcurrency 64 that churn cost about a quarter of the no-op throughput.
//     In turn, the workers wake as fast as the messages need them when
//     handlers are slow, and no faster than one wake-up per take;
//   - a worker's run and its length change only here (take), and runs
//     lists the workers whose run may have messages to steal (it had more
//     than one; unclaimed drops those with none left). Past the lock, a
//     run's messages are claimed through its claimed count (claim, steal,
//     drain), each once; while one is left unclaimed, a worker is awake
//     or woken (wakeNext), so none waits while every worker sleeps;
//   - once closed, take hands out what is left, then reports the end.
type inbox struct {
	limit   int
	workers int // how many workers take from it

	mu     sync.Mutex
	msgs   []*bindings.Message
	head   int
	idle   []*worker
	woken  int
	runs   []*worker // workers whose run may have messages to steal
	closed bool
	room   wake.Signal // fired when fewer than limit messages wait
}

// maxRun bounds the messages a worker takes at once: its acks wait for
// the end of its run, and a run is what a stop giving up on the worker
// must take back.
const maxRun = 16

// run is the messages a worker took at once (inbox.take), for it to
// handle in turn.
type run struct {
	msgs    []*bindings.Message // set under the inbox's lock (take)
	claimed atomic.Int32        // how many of msgs are claimed; may pass len(msgs)
}

// claim returns the next message of r not yet claimed (by its worker or a
// thief); false when none is left. Only r's worker calls it.
func (r *run) claim() (*bindings.Message, bool) {
	i := int(r.claimed.Add(1)) - 1
	if i >= len(r.msgs) {
		return nil, false
	}
	return r.msgs[i], true
}

// claimUpTo claims up to n of r's messages not yet claimed, for a thief
// or a stop; the inbox's lock is held.
func (r *run) claimUpTo(n int) []*bindings.Message {
	for {
		i := int(r.claimed.Load())
		k := min(n, len(r.msgs)-i)
		if k <= 0 {
			return nil
		}
		if r.claimed.CompareAndSwap(int32(i), int32(i+k)) {
			return r.msgs[i : i+k]
		}
	}
}

func newInbox(limit, workers int) *inbox {
	limit = max(limit, 1)
	return &inbox{limit: limit, workers: max(workers, 1), msgs: make([]*bindings.Message, 0, 2*limit)}
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

// wakeNext wakes an idle worker for the messages waiting, or for those of
// a run not claimed yet, unless one is already woken: that one takes or
// steals messages and wakes the next. Callers hold mu.
func (b *inbox) wakeNext() {
	if b.woken == 0 && len(b.idle) > 0 && (len(b.msgs) > b.head || b.unclaimed()) {
		b.wakeOne()
	}
}

// unclaimed reports whether a run has messages not claimed yet, and drops
// from runs those that have none left. Callers hold mu.
func (b *inbox) unclaimed() bool {
	for i := 0; i < len(b.runs); {
		r := &b.runs[i].run
		if len(r.msgs) > int(r.claimed.Load()) {
			return true
		}
		b.runs = slices.Delete(b.runs, i, i+1) // its worker claims no more from it
	}
	return false
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

// take ends w's run and gives it a new one: the oldest waiting message or,
// when w's handlers are fast, the waiting messages' share of each worker
// awake; or else half of what another worker's run has left. It sleeps
// while there is neither. False once the inbox is closed and empty.
func (b *inbox) take(w *worker) bool {
	r := &w.run
	b.mu.Lock()
	if len(r.msgs) > 1 {
		b.runs = slices.DeleteFunc(b.runs, func(o *worker) bool { return o == w })
	}
	clear(r.msgs) // handled: let them go
	r.msgs = r.msgs[:0]
	r.claimed.Store(0)
	for b.head == len(b.msgs) {
		if b.steal(w) {
			b.wakeNext()
			b.mu.Unlock()
			return true
		}
		if b.closed {
			b.mu.Unlock()
			return false
		}
		b.idle = append(b.idle, w)
		b.mu.Unlock()
		w.idle()
		<-w.wake
		b.mu.Lock()
		b.woken--
	}
	n := 1
	if w.fast {
		awake := b.workers - len(b.idle)
		n = min(max((len(b.msgs)-b.head)/max(awake, 1), 1), maxRun)
	}
	r.msgs = append(r.msgs, b.msgs[b.head:b.head+n]...)
	clear(b.msgs[b.head : b.head+n])
	b.head += n
	if b.head == len(b.msgs) {
		b.msgs, b.head = b.msgs[:0], 0
	}
	if n > 1 {
		b.runs = append(b.runs, w)
	}
	if len(b.msgs)-b.head < b.limit {
		b.room.Fire()
	}
	b.wakeNext()
	b.mu.Unlock()
	return true
}

// steal gives w's run half of the messages another worker's run has not
// claimed yet; false when no run has any. Callers hold mu, and w's run is
// empty.
func (b *inbox) steal(w *worker) bool {
	for b.unclaimed() { // b.runs[0] has messages to steal
		v := &b.runs[0].run
		if got := v.claimUpTo((len(v.msgs) - int(v.claimed.Load()) + 1) / 2); len(got) > 0 {
			w.run.msgs = append(w.run.msgs, got...)
			if len(got) > 1 {
				b.runs = append(b.runs, w)
			}
			return true
		}
	}
	return false
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

// drain takes every waiting message out, and every message of a run not
// claimed yet, for a stop that gave up on its workers to give them back.
func (b *inbox) drain() []*bindings.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append([]*bindings.Message(nil), b.msgs[b.head:]...)
	clear(b.msgs)
	b.msgs, b.head = b.msgs[:0], 0
	for _, w := range b.runs {
		out = append(out, w.run.claimUpTo(maxRun)...)
	}
	return out
}

// len is how many messages wait; for tests.
func (b *inbox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs) - b.head
}
