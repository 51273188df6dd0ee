package trigger

import (
	"context"
	"sync"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/wake"
)

// heldRetries holds failed messages, unsettled (still owned by this
// consumer), for their retry delay, on brokers that cannot delay a
// redelivery themselves, and snoozed messages (functions.RetryAfter) on
// every broker, so that a snooze counts no delivery; when a delay ends, due
// gets the message back, with whether the retry counts as an attempt. A
// broker that bounds what a consumer holds (a prefetch) bounds them; one
// that does not (Redis streams) would not, so awaitRoom makes intake wait
// while limit messages are held.
//
// Invariants, under mu:
//   - timers holds exactly the messages whose delay is running; a message
//     leaves it when its timer fires (then due runs, outside the lock) or
//     when close stops its timer (then close returns it);
//   - once closed, hold refuses every message, so close's list is final;
//   - running counts the due calls under way; close's caller waits for them
//     with wait, so no message is in flight here once wait returns.
//
// No broker I/O happens under mu: what to do with a message is decided
// under it, and done by the caller (or due) after.
type heldRetries struct {
	due   func(m *bindings.Message, counts bool)
	limit int

	mu      sync.Mutex
	timers  map[*bindings.Message]*time.Timer
	closed  bool
	room    wake.Signal // fired when a message leaves timers
	running sync.WaitGroup
}

func newHeldRetries(limit int, due func(m *bindings.Message, counts bool)) *heldRetries {
	return &heldRetries{due: due, limit: max(limit, 1), timers: make(map[*bindings.Message]*time.Timer)}
}

// hold holds m for delay, then hands it to due with counts. False when
// closed: the caller gives m back to the broker.
func (h *heldRetries) hold(m *bindings.Message, delay time.Duration, counts bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.running.Add(1)
	h.timers[m] = time.AfterFunc(delay, func() {
		defer h.running.Done()
		h.mu.Lock()
		delete(h.timers, m)
		h.room.Fire()
		h.mu.Unlock()
		h.due(m, counts)
	})
	return true
}

// awaitRoom waits while limit messages are held; false when ctx ended first.
func (h *heldRetries) awaitRoom(ctx context.Context) bool {
	h.mu.Lock()
	for len(h.timers) >= h.limit {
		ch := h.room.Wait()
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
		h.mu.Lock()
	}
	h.mu.Unlock()
	return true
}

// close refuses further holds and returns the held messages whose delay it
// cut short, for the caller to give back. Those whose delay ended already
// are with due; wait waits for them.
func (h *heldRetries) close() []*bindings.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	var cut []*bindings.Message
	for m, t := range h.timers {
		if t.Stop() {
			delete(h.timers, m)
			h.running.Done()
			cut = append(cut, m)
		}
	}
	h.room.Fire()
	return cut
}

// wait waits for the due calls under way.
func (h *heldRetries) wait() { h.running.Wait() }

// len is how many messages are held; for tests.
func (h *heldRetries) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.timers)
}
