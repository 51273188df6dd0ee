package trigger

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// watchdog enforces a trigger's handlerTimeout for all its workers with one
// ticker, instead of a deadline timer per message: on the virtual machines
// functions run on, reading the clock and resetting a timer cost more than
// the rest of the delivery chain. Deadlines are counted in ticks of an
// eighth of the timeout, so an attempt is cancelled after between 1 and 1⅛
// times the timeout, never before.
//
// It also finds handlers that ignore their context: one still running a
// grace (the timeout, at most a second) after its deadline is reported
// once, and counted in stuck; a trigger whose workers are all stuck is not
// ready (Runtime.Ready), since it can take no more messages.
type watchdog struct {
	tick    time.Duration
	timeout time.Duration // the trigger's handlerTimeout
	limit   int64         // ticksFor(timeout)
	grace   int64         // ticks past a deadline after which a handler is stuck
	start   time.Time
	now     atomic.Int64 // ticks since start
	stuck   atomic.Int64 // workers whose handler is stuck, as of the last tick
	workers []*worker
	logger  *slog.Logger
	stop    chan struct{}
	done    chan struct{}
}

func newWatchdog(timeout time.Duration, logger *slog.Logger) *watchdog {
	w := &watchdog{
		tick:   min(max(timeout/8, time.Millisecond), time.Second),
		start:  time.Now(),
		logger: logger,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if w.logger == nil {
		w.logger = slog.New(slog.DiscardHandler)
	}
	w.grace = w.ticksFor(min(timeout, time.Second))
	w.timeout, w.limit = timeout, w.ticksFor(timeout)
	return w
}

// ticksFor is how many ticks must pass, counted from the tick an attempt
// started in, for at least d to have passed.
func (w *watchdog) ticksFor(d time.Duration) int64 {
	return int64((d+w.tick-1)/w.tick) + 1
}

// at returns the wall time of tick n.
func (w *watchdog) at(n int64) time.Time { return w.start.Add(time.Duration(n) * w.tick) }

func (w *watchdog) run() {
	defer close(w.done)
	t := time.NewTicker(w.tick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			n := w.now.Add(1)
			var stuck int64
			var report []*handlerContext
			for _, wk := range w.workers {
				if c := wk.current.Load(); c != nil {
					c.expireAt(n)
					if isStuck, first := c.stuckAt(n, w.grace); isStuck {
						stuck++
						if first {
							report = append(report, c)
						}
					}
				}
			}
			w.stuck.Store(stuck)
			for _, c := range report {
				what := []any{"attempt", c.attempt}
				if m := c.msg; m != nil {
					what = append(what, "id", m.ID)
				} else { // a batch handler's call
					what = append(what, "batch", c.batchSize)
				}
				w.logger.Error("handler ignores its context: still running past its handlerTimeout; its worker is held until it returns",
					append(what, "handlerTimeout", time.Duration(c.timeout.Load()), "stuckWorkers", stuck, "workers", len(w.workers))...)
			}
		case <-w.stop:
			return
		}
	}
}

func (w *watchdog) close() {
	close(w.stop)
	<-w.done
}

// arm gives c a deadline d from now, enforced by the watchdog.
func (c *handlerContext) arm(d time.Duration) {
	c.startTick.Store(c.clock.now.Load())
	c.timeout.Store(int64(d))
	c.limit.Store(c.clock.limitFor(d))
}

// disarm takes the deadline off once the handler returned.
func (c *handlerContext) disarm() { c.limit.Store(0) }

// limitFor is ticksFor(d), computed once for the trigger's own timeout.
func (w *watchdog) limitFor(d time.Duration) int64 {
	if d == w.timeout {
		return w.limit
	}
	return w.ticksFor(d)
}

// stuckAt reports whether c's handler is still running grace ticks past
// its deadline at tick now, and whether that is news (the first time).
func (c *handlerContext) stuckAt(now, grace int64) (stuck, first bool) {
	limit := c.limit.Load()
	if limit == 0 || now-c.startTick.Load() < limit+grace {
		return false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first = !c.stuckSeen
	c.stuckSeen = true
	return true, first
}

// expireAt cancels c with DeadlineExceeded when its deadline has passed at
// tick now.
func (c *handlerContext) expireAt(now int64) {
	limit := c.limit.Load()
	if limit > 0 && now-c.startTick.Load() >= limit {
		c.cancel(context.DeadlineExceeded)
	}
}
