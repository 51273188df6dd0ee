package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// dispatcher runs one trigger: a receive loop feeding a bounded pool of
// workers through an inbox, and the settling of each message (ack, nack,
// delayed redelivery, native dead letter) from the outcome of the middleware
// chain.
//
// It composes four parts, each with its own lock and invariants:
//   - inbox: the received messages waiting for a worker, and the workers
//     waiting for a message;
//   - keyOrder (ordered triggers): one key's messages one at a time, in order;
//   - heldRetries: messages held for their retry delay, unsettled: failed
//     ones on brokers without delayed nacks, snoozed ones on every broker;
//   - leases (brokers with leases): the leases of every unsettled message.
//
// The dispatcher itself holds no lock: its own state is the workers and
// flags that only go one way (stopping).
type dispatcher struct {
	// origin is the function's name, its trigger binding and type, and
	// its logger: the part of every attempt's functions.Delivery that is
	// the function's (handlerContext.origin points here).
	origin  functions.Delivery
	typ     *bindings.Type
	in      bindings.Input
	policy  bindings.DeliveryPolicy
	handler Handler // the whole middleware chain
	base    context.Context

	settleCtx  context.Context     // for acks and nacks: outlives shutdown's cancellations
	replier    bindings.Replier    // the input, when its sender waits for an answer
	batchAcker bindings.BatchAcker // the input, when it acks many at once
	// runAcks: a worker acks the messages its run handled at the run's
	// end (worker.loop), not each as its handler returns. Not when a
	// sender waits for the answer (it is the ack), nor in an ordered
	// trigger (a key's next message may be handled, and acked, first).
	runAcks bool

	inbox   *inbox // received messages, to any free worker
	workers []*worker
	// free, when the input hands its messages over itself
	// (bindings.Direct), holds the workers not handling one: a message's
	// sender takes one, handles the message on its own goroutine, and puts
	// it back. The trigger then has no receive loop and no worker
	// goroutines.
	free     chan *worker
	watchdog *watchdog // enforces handlerTimeout; nil without one

	order   *keyOrder    // nil unless ordered
	held    *heldRetries // retries and snoozes waiting for their delay
	leases  *leases      // nil when the broker has no leases
	batches *batchPath   // nil unless the function takes batches (batcher.go)
	handled *ownChain    // a batch function's chain when nothing wraps the runtime's own middleware: it settles the handled items without a call each; nil: each item through the chain

	// cancelWait bounds how long stop waits, after cancelling the handlers
	// still running when its context ended, for them to return.
	cancelWait time.Duration

	receiving atomic.Bool   // the receive loop has started
	unhealthy atomic.Bool   // the input's Healthy failed at the last probe
	stopping  atomic.Bool   // intake stopped: nack instead of handling
	stopped   chan struct{} // closed when stopping starts
	quit      chan struct{} // closed when workers should drain and exit
	finished  chan struct{} // closed when stop returns

	recvCancel context.CancelFunc
	recvDone   chan struct{}
	workersWG  sync.WaitGroup
}

// defaultCancelWait is Options.ShutdownCancelWait's default.
const defaultCancelWait = 5 * time.Second

// newDispatcher returns the dispatcher of one trigger. h is the delivery
// chain; batch, when not nil, is the function's BatchHandler, and h is then
// the per-item chain that settles the error it gave each item (batchItem).
func newDispatcher(function, binding string, typ *bindings.Type, in bindings.Input, policy bindings.DeliveryPolicy, h Handler, batch BatchHandler, base context.Context, logger *slog.Logger) *dispatcher {
	d := &dispatcher{
		origin: functions.Delivery{Function: function, Binding: binding, BindingType: typ.Name, Logger: logger},
		typ:    typ, in: in, policy: policy, handler: h, base: base,
		settleCtx:  context.WithoutCancel(base),
		cancelWait: defaultCancelWait,
		stopped:    make(chan struct{}), quit: make(chan struct{}), recvDone: make(chan struct{}), finished: make(chan struct{}),
	}
	d.replier, _ = in.(bindings.Replier)
	d.batchAcker, _ = in.(bindings.BatchAcker)
	n := policy.MaxConcurrency
	perWorker := 1 // messages a worker holds at once
	if batch != nil {
		perWorker = max(policy.MaxBatchSize, 1)
	}
	// The receive loop receives the next batch while fewer than this many
	// wait: with the batch in its hand, at most this many plus a batch are
	// received and not yet with a worker. A whole batch just put stays
	// under it: the next Receive goes out at once instead of after a
	// worker's wake-up and first take (with max(n, BatchSize), a batch of
	// BatchSize >= n filled the inbox, and PostgreSQL's receive loop waited
	// between claims for 3 to 5% of its time).
	d.inbox = newInbox(n+policy.BatchSize, n)
	if policy.HandlerTimeout > 0 {
		d.watchdog = newWatchdog(policy.HandlerTimeout, d.origin.Logger)
	}
	for range n {
		d.workers = append(d.workers, &worker{d: d, wake: make(chan struct{}, 1), shard: uint8(len(d.workers) % attemptShards)})
	}
	if d.watchdog != nil {
		d.watchdog.workers = d.workers
	}
	if policy.Ordered && typ.Capabilities.Ordering {
		d.order = newKeyOrder(4 * max(n*perWorker, policy.BatchSize))
		if kb, ok := in.(bindings.KeyBatcher); ok && batch != nil {
			// A batch path keeps a key's messages in order: let the
			// input hand out a batch's worth of one key at once.
			kb.SetKeyBatch(perWorker)
		}
	}
	d.runAcks = d.replier == nil && d.order == nil
	// Held messages stay unsettled in memory; a broker that bounds what a
	// consumer holds (a prefetch) bounds them, one that does not (Redis
	// streams) would not, so intake waits while this many are held: room
	// for every worker's messages to fail at once (a whole batch does),
	// four times over.
	retryHeld := d.retryHeld
	if batch != nil {
		d.batches = newBatchPath(d, batch)
		retryHeld = d.batches.retryHeld
	}
	d.held = newHeldRetries(4*(n*perWorker+policy.BatchSize), retryHeld)
	// Direct handling holds no message here for later: the sender is
	// answered and retries itself (a replier's retries and snoozes are
	// nacks, which a broker with delayed nacks delays), so retryHeld, which
	// gives messages to the workers' inbox, is never called.
	if di, ok := in.(bindings.Direct); ok && batch == nil && d.order == nil && d.replier != nil && typ.Capabilities.DelayedNack {
		d.free = make(chan *worker, n) // filled by start
		di.SetDirect(d.handleDirect)
	}
	if ext, ok := in.(bindings.LeaseExtender); ok {
		interval := policy.LeaseExtension
		if interval == 0 {
			if li, ok := in.(interface{ LeaseInterval() time.Duration }); ok {
				interval = li.LeaseInterval()
			}
		}
		if interval > 0 {
			d.leases = newLeases(interval, ext.ExtendLeases, d.settleCtx, d.origin.Logger)
		}
	}
	return d
}

// allStuck reports whether every worker holds a handler that ignores its
// context past its timeout: the trigger can take no message.
func (d *dispatcher) allStuck() bool {
	return d.watchdog != nil && d.watchdog.stuck.Load() >= int64(len(d.workers))
}

func (d *dispatcher) start() {
	ctx, cancel := context.WithCancel(d.base)
	d.recvCancel = cancel
	if d.watchdog != nil {
		go d.watchdog.run()
	}
	if d.leases != nil {
		go d.leases.run(d.finished)
	}
	if d.batches != nil {
		d.batches.start(ctx) // its own receiver, assembler and workers' loop
		return
	}
	if d.free != nil { // the input hands its messages over: see handleDirect
		d.receiving.Store(true)
		close(d.recvDone)
		for _, w := range d.workers {
			d.free <- w
		}
		return
	}
	for _, w := range d.workers {
		d.workersWG.Add(1)
		go w.loop()
	}
	go d.receiveLoop(ctx)
}

// receiveLoop receives until ctx ends (stop), putting each batch in the
// inbox for the workers and receiving the next while they handle it; it
// waits before receiving more while the inbox is full.
func (d *dispatcher) receiveLoop(ctx context.Context) {
	defer close(d.recvDone)
	d.receive(ctx, d.policy.BatchSize, d.inbox.awaitRoom, func(msgs []*bindings.Message) bool {
		d.dispatch(msgs)
		return true
	})
}

// receive calls Receive for at most size messages until ctx ends, retrying
// a failed call with backoff, and hands each result, its leases tracked, to
// deliver, which returns false to end it. Before each call it waits while
// too many retries are held, and until room (when set) says there is room.
func (d *dispatcher) receive(ctx context.Context, size int, room func(context.Context) bool, deliver func([]*bindings.Message) bool) {
	d.receiving.Store(true)
	defer d.receiving.Store(false)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if !d.held.awaitRoom(ctx) || room != nil && !room(ctx) {
			return
		}
		msgs, err := d.in.Receive(ctx, size)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, bindings.ErrClosed) {
				return
			}
			d.origin.Logger.Error("receive failed; retrying", "error", err, "delay", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if len(msgs) == 0 {
			continue
		}
		d.leases.track(msgs...)
		if !deliver(msgs) {
			return
		}
	}
}

// dispatch hands msgs to the workers through the inbox; in an ordered
// trigger, a message whose key a worker is busy with is parked behind it
// instead, for that worker to take. Once stopping has begun, the workers
// only nack what they take.
func (d *dispatcher) dispatch(msgs []*bindings.Message) {
	if d.order == nil {
		d.inbox.put(msgs...)
		return
	}
	for _, m := range msgs {
		// One at a time: admit may wait for room, which only the owners of
		// the keys admitted before can make.
		if m.Key == "" || d.order.admit(m, d.stopped) {
			d.inbox.put(m)
		}
	}
}

// settle acts on the outcome of one attempt. It returns the delay after which
// an ordered worker must retry m in place, or -1 when m is settled, and
// whether that retry counts as an attempt (a snooze does not).
func (d *dispatcher) settle(m *bindings.Message, res Result, err error) (time.Duration, bool) {
	if err == nil && d.replier == nil { // the hot path: allocate nothing
		d.ack(m)
		return -1, false
	}
	dec := Decide(err)
	if d.replier != nil && dec.Action != Abandoned && dec.Action != RetryLater {
		d.reply(m, res, err)
	}
	switch dec.Action {
	case Acked, DeadLettered:
		d.ack(m)
	case Abandoned:
		d.nack(m, 0)
	case RetryLater:
		delay := dec.Delay
		if delay == 0 && !isRetry(err) { // a plain error from a custom chain
			delay = d.policy.Backoff(m.DeliveryCount)
		}
		if d.order != nil {
			return delay, !dec.Snoozed
		}
		if dec.Snoozed && d.replier == nil {
			d.snooze(m, delay)
		} else { // a request's sender is answered (503, Retry-After) and retries itself
			d.redeliver(m, delay)
		}
	case Exhausted:
		if d.deadLetterNatively(m, dec.Err) {
			return -1, false
		}
		if d.order != nil {
			return dec.Delay, true
		}
		d.redeliver(m, dec.Delay)
	}
	return -1, false
}

// deadLetterNatively hands m, failed for good, to the broker's own dead
// letter; false when the input has none (or it failed), and m is still ours.
func (d *dispatcher) deadLetterNatively(m *bindings.Message, cause error) bool {
	nd, ok := d.in.(bindings.DeadLetterer)
	if !ok {
		return false
	}
	d.leases.untrack(m)
	done, err := nd.DeadLetter(d.settleCtx, m, cause)
	if err != nil {
		d.origin.Logger.Error("native dead letter failed; nacking", "id", m.ID, "error", err)
	}
	if done && err == nil {
		return true
	}
	d.leases.track(m) // still ours
	return false
}

func (d *dispatcher) reply(m *bindings.Message, res Result, err error) {
	rp := d.replier
	if err == nil {
		status := 200
		if res.Data == nil {
			status = 204
		}
		rp.Reply(m, bindings.Reply{Status: status, Data: res.Data, ContentType: res.ContentType, Metadata: res.Metadata})
		return
	}
	status := 500
	if functions.IsPermanent(err) {
		status = 422 // the request itself cannot be handled: retrying will not help
	}
	rp.Reply(m, bindings.Reply{Status: status, Data: []byte("function failed\n"), ContentType: "text/plain; charset=utf-8"})
}

// redeliver gives m back for another attempt after delay: through the broker
// when it can delay redelivery itself, otherwise by holding m here (unsettled,
// so still owned by this consumer) until retryHeld hands it to a worker.
func (d *dispatcher) redeliver(m *bindings.Message, delay time.Duration) {
	if delay <= 0 || d.typ.Capabilities.DelayedNack || !d.held.hold(m, delay, true) {
		d.nack(m, delay)
	}
}

// snooze holds m here for delay, on any broker, and hands it to a worker
// again with the same attempt number: a broker's redelivery would count a
// delivery (and its own delivery limit, a native dead letter's, would see
// it). Only a stop cuts a snooze short; m then goes back to the broker.
func (d *dispatcher) snooze(m *bindings.Message, delay time.Duration) {
	if !d.held.hold(m, delay, false) {
		d.nack(m, 0)
	}
}

// retryHeld gets m back from heldRetries when its delay has passed; counts
// says whether the next attempt is a new one (a snooze's is not).
func (d *dispatcher) retryHeld(m *bindings.Message, counts bool) {
	if d.stopping.Load() {
		d.nack(m, 0)
		return
	}
	if counts {
		m.DeliveryCount++ // the broker did not see this redelivery; count it here
	}
	// stop closes the inbox only once held retries are all back (held.wait),
	// and a worker that takes m after stopping began nacks it.
	d.inbox.put(m)
}

func (d *dispatcher) ack(m *bindings.Message) {
	d.leases.untrack(m)
	d.ackOne(m)
}

// ackOne acks m on the input.
func (d *dispatcher) ackOne(m *bindings.Message) {
	if err := d.in.Ack(d.settleCtx, m); err != nil {
		d.origin.Logger.Error("ack failed; the broker will redeliver", "id", m.ID, "error", err)
	}
}

func (d *dispatcher) nack(m *bindings.Message, delay time.Duration) {
	d.leases.untrack(m)
	if err := d.in.Nack(d.settleCtx, m, delay); err != nil {
		d.origin.Logger.Error("nack failed; the broker will redeliver when its lease ends", "id", m.ID, "error", err)
	}
}

// ErrHandlersRunning is wrapped in Shutdown's error when handlers were still
// running after the grace period and ShutdownCancelWait: the runtime gave up
// on them, and their messages return through the broker's redelivery.
var ErrHandlersRunning = errors.New("handlers still running after shutdown")

// stop stops intake, drains in-flight handlers until ctx ends, then cancels
// what still runs, and gives every unhandled message back to the broker. It
// returns an error wrapping ErrHandlersRunning when handlers ignored their
// cancellation for cancelWait.
func (d *dispatcher) stop(ctx context.Context) error {
	defer close(d.finished)
	if d.watchdog != nil {
		defer d.watchdog.close() // deadlines hold through the drain
	}
	d.stopping.Store(true)
	close(d.stopped)
	d.recvCancel()
	<-d.recvDone

	for _, m := range d.held.close() {
		d.nack(m, 0)
	}
	d.held.wait()

	close(d.quit)
	d.inbox.close()
	done := make(chan struct{})
	if d.free != nil {
		d.receiving.Store(false)
		// Every worker back: no direct handling runs, and none starts.
		go func() {
			for range d.workers {
				<-d.free
			}
			close(done)
		}()
	} else {
		go func() { d.workersWG.Wait(); close(done) }()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	d.origin.Logger.Warn("shutdown grace period over; cancelling running handlers")
	for _, w := range d.workers {
		if c := w.current.Load(); c != nil {
			c.cancel(errShutdown)
		}
	}
	t := time.NewTimer(d.cancelWait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	}
	// What still waits for a worker goes back now, not when the broker's
	// lease ends: the stuck workers will not take it.
	for _, m := range d.inbox.drain() {
		d.nack(m, 0)
	}
	running := 0
	for _, w := range d.workers {
		if w.current.Load() != nil {
			running++
		}
	}
	d.origin.Logger.Error("handlers ignore cancellation; leaving their messages to the broker's redelivery", "running", running)
	return fmt.Errorf("function %q: %w: %d ignored their cancellation for %s; their messages return through the broker's redelivery",
		d.origin.Function, ErrHandlersRunning, running, d.cancelWait)
}

// handleDirect is the trigger's bindings.DirectHandler: it handles m on the
// caller's goroutine with a free worker, as the worker's goroutine would
// have, and puts the worker back.
func (d *dispatcher) handleDirect(ctx context.Context, m *bindings.Message, wait time.Duration) error {
	var w *worker
	select {
	case w = <-d.free:
	default: // every worker busy, or the trigger not started yet
		t := time.NewTimer(wait)
		select {
		case w = <-d.free:
			t.Stop()
		case <-t.C:
			return bindings.ErrBusy
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-d.stopped:
			t.Stop()
			return errDirectStopped
		}
	}
	// Back even if a middleware outside Recover panics: net/http's server
	// recovers the request's goroutine, and stop waits for every worker.
	defer func() { d.free <- w }()
	if d.stopping.Load() {
		return errDirectStopped
	}
	if err := ctx.Err(); err != nil {
		// A worker freed just as ctx ended (select picks either): the
		// request was answered meanwhile; do not start its handler.
		return err
	}
	d.leases.track(m)
	w.handleOne(m)
	return nil
}

// errDirectStopped is handleDirect's answer once the trigger stops.
var errDirectStopped = fmt.Errorf("trigger stopping: %w", bindings.ErrClosed)

// worker handles messages from the inbox, one at a time.
type worker struct {
	d        *dispatcher
	wake     chan struct{} // the inbox's wake-up while asleep in take
	run      run           // the messages it took from the inbox, to handle in turn
	fast     bool          // its last run's handlers took less than fastHandler each: it may take many at once
	current  atomic.Pointer[handlerContext]
	acked    []*bindings.Message // the messages handled in its run, to ack at its end; a batch worker's items to ack (itemSettling)
	slab     []handlerContext    // contexts for this worker's next attempts (newContext)
	nextSlab int                 // the size of its next slab
	shard    uint8               // its shard of the trigger's metrics (attemptStats)
}

// fastHandler is how long a worker's handlers may take, on average over its
// last run, for it to take many messages at once (inbox.take): under it the
// runtime's own cost per message (the inbox, the ack) is a fair part of
// the handler's; over it, messages taken together would wait for each
// other's handlers, and their acks with them.
const fastHandler = 20 * time.Microsecond

// loop handles the runs it takes from the inbox until the inbox is closed
// and empty; once stopping has begun, handling a message nacks it and what
// is parked behind it. The messages of a run handled with success are
// acked together at its end, before the worker takes another run or
// sleeps: a broker that acks many at once (bindings.BatchAcker) gets one
// call per run, and their acks wait at most for the run's other handlers.
// (So a handler that ignores the end of the shutdown grace period keeps the
// acks of what its run handled before it: those messages come back, as
// any a kill -9 cuts off between handler and ack.) See runAcks for the
// triggers that ack each message as its handler returns.
func (w *worker) loop() {
	defer w.d.workersWG.Done()
	for w.d.inbox.take(w) {
		start, n := time.Since(clockEpoch), time.Duration(0)
		for m, ok := w.run.claim(); ok; m, ok = w.run.claim() {
			w.handle(m)
			n++
		}
		if n > 0 { // thieves may have taken the whole run
			w.fast = time.Since(clockEpoch)-start < n*fastHandler
		}
		w.acked = w.d.ackAll(w.acked)
	}
}

// handle handles m and, in an ordered trigger, the messages parked behind
// its key meanwhile.
func (w *worker) handle(m *bindings.Message) {
	w.handleOne(m)
	if w.d.order == nil || m.Key == "" {
		return
	}
	for next := w.d.order.next(m.Key); next != nil; next = w.d.order.next(m.Key) {
		w.handleOne(next)
	}
}

// handleOne handles m until it is settled, retrying in place when the
// trigger is ordered; once stopping has begun it only nacks m.
func (w *worker) handleOne(m *bindings.Message) {
	if w.d.stopping.Load() {
		w.d.nack(m, 0)
		return
	}
	for {
		res, err := w.attempt(m)
		if err == nil && w.d.runAcks {
			w.acked = append(w.acked, m) // acked at the end of the run (loop)
			return
		}
		delay, counts := w.d.settle(m, res, err)
		if delay < 0 {
			return
		}
		// Ordered trigger: retry in place, holding up only this key.
		if !w.wait(delay) {
			w.d.nack(m, 0)
			return
		}
		if counts {
			m.DeliveryCount++
		}
	}
}

// wait holds m, unsettled (its lease goes on being extended), for an
// in-place retry delay. False when stopping begins first.
func (w *worker) wait(delay time.Duration) bool {
	if w.d.stopping.Load() {
		return false
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-w.d.stopped:
		return false
	}
}

// callContext returns the context of one handler call by w: on m (nil for
// a batch's call), at attempt.
func (w *worker) callContext(m *bindings.Message, attempt int) *handlerContext {
	hc := new(handlerContext)
	w.initContext(hc, m, attempt)
	return hc
}

// initContext makes hc, a zero handlerContext, the context of one handler
// call by w, as callContext.
func (w *worker) initContext(hc *handlerContext, m *bindings.Message, attempt int) {
	d := w.d
	hc.parent, hc.clock, hc.shard = d.base, d.watchdog, w.shard
	hc.origin, hc.msg, hc.attempt = &d.origin, m, attempt
}

// contextSlab is how many handler contexts a busy worker allocates at once:
// one allocation per contextSlab attempts rather than one per attempt. A
// slot is used once and never reused, since a handler may keep its context
// (a goroutine it started, a closure) past its return; such a context keeps
// its whole slab alive, which is why the slab is small (16 × 144 bytes).
//
// The slab also keeps the contexts of its earlier attempts reachable, and
// with them their messages (a payload may be megabytes): a worker drops it
// when it goes idle (idle), so that a trigger with nothing to do holds no
// message it handled. Its next slab is then of one context, and each
// following one twice the last, up to contextSlab: a worker that idles
// between messages (a trigger waiting on its broker) allocates a context
// per message, as it would without slabs, not a slab per message. A direct
// path's worker is idle after every message (between two requests nothing
// says whether another comes), so its contexts are allocated one by one.
const contextSlab = 16

// newContext is callContext, from the worker's slab.
func (w *worker) newContext(m *bindings.Message, attempt int) *handlerContext {
	if w.d.free != nil {
		return w.callContext(m, attempt)
	}
	if len(w.slab) == 0 {
		n := max(w.nextSlab, 1)
		w.slab = make([]handlerContext, n)
		w.nextSlab = min(2*n, contextSlab)
	}
	hc := &w.slab[0]
	w.slab = w.slab[1:]
	w.initContext(hc, m, attempt)
	return hc
}

// idle drops the worker's slab, whose contexts (at least one of them used,
// since a slab is made for an attempt) keep their messages, and starts the
// next one small: the worker is about to wait for a message (inbox.take).
// Called on the worker's goroutine.
func (w *worker) idle() {
	w.slab, w.nextSlab = nil, 1
}

func (w *worker) attempt(m *bindings.Message) (Result, error) {
	d := w.d
	hc := w.newContext(m, max(m.DeliveryCount, 1))
	w.current.Store(hc)
	res, err := func() (Result, error) {
		// Cleared even if a middleware outside Recover panics (a direct
		// request's goroutine survives it): shutdown counts running
		// handlers by it.
		defer w.current.Store(nil)
		return d.handler(hc, m)
	}()
	// A failed attempt that the end of the grace period cut short goes back
	// to the broker; it is no failure (Retry already says so for the
	// runtime's chain). A success, or a dead letter already sent, stands.
	if err != nil && hc.cancelledBy(errShutdown) && Decide(err).Action != DeadLettered {
		err = errShutdown
	}
	// The attempt is over: end its context, as a deferred cancel would, so
	// that what the handler hung on it (AfterFunc, derived contexts,
	// goroutines waiting on Done) is released.
	hc.cancel(context.Canceled)
	return res, err
}
