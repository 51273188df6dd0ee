package trigger

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// handlerContext is the context a handler runs with. It carries the delivery
// (answering Value(functions.DeliveryKey{})) and the handler's deadline in one
// allocation: the hot path would otherwise pay for context.WithValue,
// context.WithDeadline, its timer and its cancel closure on every message.
// The deadline is enforced by the trigger's watchdog, which calls cancel.
//
// The functions.Delivery itself is built when first asked for (delivery):
// a handler that takes its payload never asks, and filling the Delivery's
// nine words in every attempt's context cost more than the rest of it.
//
// It is a complete context.Context: Done's channel is made only when someone
// asks for it, and AfterFunc lets context.WithCancel(ctx) and friends attach
// without a watcher goroutine.
type handlerContext struct {
	// The fields are in the order of their cache lines. A context is fresh
	// memory (see contextSlab): a line's first touch waits for memory. The
	// first writes (initContext) fetch their lines together, so those fields
	// are spread to reach every line that arm, cancel and the handler's
	// reads touch; a line that only cancel touched, or only arm, was fetched
	// there, alone, in every attempt. What most attempts never touch
	// (built, itemErr) is last.

	parent context.Context

	// How it ended: cancel reads and writes them at the end of every
	// attempt.
	cause     error // why it ended (nil until then): as Err, or errShutdown
	mu        sync.Mutex
	stuckSeen bool // the watchdog reported the handler stuck
	expiredAt bool // it ended at its deadline: Err is DeadlineExceeded
	// Set before the context is handed out, and packed here with the two
	// flags into the word after mu: every attempt allocates a context, and
	// at 144 bytes it fits the allocator's 144-byte class, where with these
	// in words of their own it took 160.
	shard     uint8         // the worker's (worker.shard)
	batchSize int32         // in the context of a BatchHandler call: how many messages the batch has
	done      chan struct{} // nil until Done is called
	afters    map[*afterFunc]struct{}

	// The deadline, armed and disarmed by the handler's goroutine and read
	// by the watchdog's without a lock: arm stores limit last and a reader
	// loads it first, so a limit seen armed comes with its start.
	startTick atomic.Int64 // the clock's tick when the deadline was armed
	limit     atomic.Int64 // ticks after startTick at which it expires; 0: none
	timeout   atomic.Int64 // time.Duration as armed, for Deadline

	clock *watchdog // the trigger's; nil when it has no handlerTimeout

	// What the delivery is built from: the function's part, shared by
	// every attempt (Function, Binding, BindingType, Logger), the message
	// (nil for a batch's call) and the attempt.
	origin  *functions.Delivery
	msg     *bindings.Message
	attempt int

	built atomic.Pointer[functions.Delivery] // nil until delivery is called

	// A batch function's: the BatchHandler's error for the item this
	// context's chain settles (see batchItem).
	itemErr error
}

type afterFunc struct{ f func() }

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c *handlerContext) Deadline() (time.Time, bool) {
	if c.limit.Load() == 0 {
		return c.parent.Deadline()
	}
	return c.clock.at(c.startTick.Load()).Add(time.Duration(c.timeout.Load())), true
}

func (c *handlerContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.cause != nil {
			c.done = closedChan
		} else {
			c.done = make(chan struct{})
		}
	}
	return c.done
}

func (c *handlerContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errLocked()
}

// errLocked is Err: context.Canceled or context.DeadlineExceeded, as the
// context.Context contract requires, whatever the cause. Callers hold mu.
func (c *handlerContext) errLocked() error {
	switch {
	case c.cause == nil:
		return nil
	case c.expiredAt:
		return context.DeadlineExceeded
	}
	return context.Canceled
}

func (c *handlerContext) Value(key any) any {
	switch key.(type) {
	case functions.DeliveryKey:
		return c.delivery()
	case handlerContextKey:
		return c
	}
	return c.parent.Value(key)
}

// delivery returns the attempt's Delivery, built on the first call. Two
// goroutines asking at once may both build one; the first stored is the one
// every call returns, so that what a middleware sets on it (tracing, the
// Logger) is what the handler sees.
func (c *handlerContext) delivery() *functions.Delivery {
	if d := c.built.Load(); d != nil {
		return d
	}
	d := new(functions.Delivery)
	if c.origin != nil {
		*d = *c.origin
	}
	d.Attempt, d.Message = c.attempt, c.msg
	if c.built.CompareAndSwap(nil, d) {
		return d
	}
	return c.built.Load()
}

// handlerContextKey finds the runtime's handlerContext through contexts a
// middleware derived from it (context.WithValue, WithCancel...), so that
// what the runtime records there (the timeout, the shutdown) does not
// depend on the ctx a middleware passes on.
type handlerContextKey struct{}

// handlerContextOf returns the runtime's handler context ctx is or derives
// from, or nil.
func handlerContextOf(ctx context.Context) *handlerContext {
	if hc, ok := ctx.(*handlerContext); ok {
		return hc
	}
	hc, _ := ctx.Value(handlerContextKey{}).(*handlerContext)
	return hc
}

// AfterFunc is found by context.AfterFunc and context.WithCancel through an
// interface check, so derived contexts need no goroutine to watch this one.
func (c *handlerContext) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause != nil {
		go f()
		return func() bool { return false }
	}
	a := &afterFunc{f: f}
	if c.afters == nil {
		c.afters = make(map[*afterFunc]struct{})
	}
	c.afters[a] = struct{}{}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.afters[a]
		delete(c.afters, a)
		return ok
	}
}

// cancel ends the context for cause; only the first call has an effect.
// Err then reports context.DeadlineExceeded when cause is (or wraps) it and
// context.Canceled otherwise, as the context.Context contract requires: a
// cause of our own (errShutdown) is kept apart, for the runtime.
func (c *handlerContext) cancel(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause != nil {
		return
	}
	c.cause = cause
	// The end of every attempt cancels with context.Canceled: spare it
	// errors.Is.
	c.expiredAt = cause != context.Canceled && errors.Is(cause, context.DeadlineExceeded)
	if c.done != nil {
		close(c.done)
	} else {
		c.done = closedChan
	}
	for a := range c.afters {
		go a.f()
	}
	c.afters = nil
}

// expired reports whether the context ended at its deadline.
func (c *handlerContext) expired() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.expiredAt
}

// cancelledBy reports whether the context ended for cause.
func (c *handlerContext) cancelledBy(cause error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause == cause
}

// shardOf is the shard of a trigger's metrics that ctx's attempt counts in
// (attemptStats): its worker's, or the first when ctx is not the runtime's
// own (a middleware wrapped it).
func shardOf(ctx context.Context) uint8 {
	if hc, ok := ctx.(*handlerContext); ok {
		return hc.shard
	}
	return 0
}
