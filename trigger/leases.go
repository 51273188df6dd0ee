package trigger

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/wake"
)

// leases keeps the broker's leases of a trigger's unsettled messages:
// every message received and not settled yet, wherever it is (in the
// receive loop's hand, the lane, parked behind its key, with a worker, held
// for a retry). Every half interval, one sweep extends the leases of all of
// them, for two intervals, in one batch call (the driver splits it as its
// broker's API requires). The call may take up to half an interval; so from
// its receipt to its settling, a message's lease never runs shorter than an
// interval, however many messages there are.
//
// Invariants, under mu:
//   - unsettled holds exactly the messages tracked and not untracked;
//   - unsettled[m] is true while m is in the batch of the extension under
//     way, call number calls; ended is the number of the last call that
//     ended. untrack takes m out at once (no later sweep sees it) and, when
//     m is in the call under way, waits for that call to end, because a
//     broker refuses to extend a settled message, or worse, extends one a
//     nack just made visible again. It never waits for a later call, so the
//     wait is bounded by one call's timeout, however busy the sweeps.
//
// The extension call runs outside mu. A nil *leases (the broker has no
// leases) tracks nothing.
type leases struct {
	interval time.Duration
	extend   func(ctx context.Context, msgs []*bindings.Message, d time.Duration) error
	ctx      context.Context // for the extension calls: outlives shutdown's cancellations
	logger   *slog.Logger

	mu        sync.Mutex
	unsettled map[*bindings.Message]bool
	calls     uint64      // extension calls begun
	ended     uint64      // the last extension call that ended
	extended  wake.Signal // fired when an extension ends

	batch []*bindings.Message // the sweep's, reused
}

func newLeases(interval time.Duration, extend func(context.Context, []*bindings.Message, time.Duration) error, ctx context.Context, logger *slog.Logger) *leases {
	return &leases{interval: interval, extend: extend, ctx: ctx, logger: logger, unsettled: make(map[*bindings.Message]bool)}
}

// run sweeps every half interval until done is closed.
func (l *leases) run(done <-chan struct{}) {
	t := time.NewTicker(max(l.interval/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.sweep()
		case <-done:
			return
		}
	}
}

// sweep extends the lease of every unsettled message, in one call.
func (l *leases) sweep() {
	l.mu.Lock()
	for m := range l.unsettled {
		l.unsettled[m] = true
		l.batch = append(l.batch, m)
	}
	if len(l.batch) == 0 {
		l.mu.Unlock()
		return
	}
	l.calls++
	call := l.calls
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(l.ctx, max(l.interval/2, time.Millisecond))
	err := l.extend(ctx, l.batch, 2*l.interval)
	cancel()
	if err != nil {
		l.logger.Warn("lease extension failed", "messages", len(l.batch), "error", err)
	}
	l.mu.Lock()
	for _, m := range l.batch {
		if _, ok := l.unsettled[m]; ok {
			l.unsettled[m] = false
		}
	}
	l.ended = call
	l.extended.Fire()
	l.mu.Unlock()
	clear(l.batch)
	l.batch = l.batch[:0]
}

// track adds msgs, just received, to the unsettled messages.
func (l *leases) track(msgs ...*bindings.Message) {
	if l == nil {
		return
	}
	l.mu.Lock()
	for _, m := range msgs {
		l.unsettled[m] = false
	}
	l.mu.Unlock()
}

// untrack takes msgs out of the unsettled messages, just before they are
// settled, once no extension of their leases is under way.
func (l *leases) untrack(msgs ...*bindings.Message) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	extending := false
	for _, m := range msgs {
		extending = extending || l.unsettled[m]
		delete(l.unsettled, m)
	}
	if !extending {
		return
	}
	for call := l.calls; l.ended < call; {
		ch := l.extended.Wait()
		l.mu.Unlock()
		<-ch
		l.mu.Lock()
	}
}

// len is how many messages are unsettled; for tests.
func (l *leases) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.unsettled)
}
