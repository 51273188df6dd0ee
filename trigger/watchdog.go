package trigger

import (
	"context"
	"sync/atomic"
	"time"
)

// watchdog enforces a trigger's handlerTimeout for all its workers with one
// ticker, instead of a deadline timer per message: on the virtual machines
// functions run on, reading the clock and resetting a timer cost more than
// the rest of the delivery chain. Deadlines are counted in ticks of an
// eighth of the timeout, so an attempt is cancelled after between 1 and 1⅛
// times the timeout, never before.
type watchdog struct {
	tick    time.Duration
	start   time.Time
	now     atomic.Int64 // ticks since start
	workers []*worker
	stop    chan struct{}
	done    chan struct{}
}

func newWatchdog(timeout time.Duration) *watchdog {
	return &watchdog{
		tick:  min(max(timeout/8, time.Millisecond), time.Second),
		start: time.Now(),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
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
			for _, wk := range w.workers {
				if c := wk.current.Load(); c != nil {
					c.expireAt(n)
				}
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
	c.mu.Lock()
	c.startTick = c.clock.now.Load()
	c.limit = c.clock.ticksFor(d)
	c.timeout = d
	c.mu.Unlock()
}

// disarm takes the deadline off once the handler returned.
func (c *handlerContext) disarm() {
	c.mu.Lock()
	c.limit = 0
	c.mu.Unlock()
}

// expireAt cancels c with DeadlineExceeded when its deadline has passed at
// tick now.
func (c *handlerContext) expireAt(now int64) {
	c.mu.Lock()
	due := c.limit > 0 && now-c.startTick >= c.limit
	c.mu.Unlock()
	if due {
		c.cancel(context.DeadlineExceeded)
	}
}
