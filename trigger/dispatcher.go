package trigger

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/internal/wake"
)

// dispatcher runs one trigger: a receive loop feeding a bounded pool of
// workers, and the settling of each message (ack, nack, delayed redelivery,
// native dead letter) from the outcome of the middleware chain.
type dispatcher struct {
	function string
	binding  string
	typ      *bindings.Type
	in       bindings.Input
	policy   bindings.Delivery
	handler  Handler // the whole middleware chain
	base     context.Context
	logger   *slog.Logger

	lane    chan *bindings.Message // received messages, to any free worker
	workers []*worker

	// Ordered triggers: each key a worker is busy with maps to the messages
	// of that key that arrived meanwhile, in order; that worker handles them
	// next. So one key's messages run one at a time while other keys run in
	// parallel, and a key whose message is retrying in place holds up only
	// itself. parked bounds how many messages wait there.
	keyMu  sync.Mutex
	keys   map[string][]*bindings.Message
	parked chan struct{}

	receiving atomic.Bool   // the receive loop has started
	unhealthy atomic.Bool   // the input's Healthy failed at the last probe
	stopping  atomic.Bool   // intake stopped: nack instead of handling
	stopped   chan struct{} // closed when stopping starts
	quit      chan struct{} // closed when workers should drain and exit

	settleCtx context.Context  // for acks and nacks: outlives shutdown's cancellations
	replier   bindings.Replier // the input, when its sender waits for an answer

	recvCancel context.CancelFunc
	recvDone   chan struct{}
	workersWG  sync.WaitGroup

	heldMu   sync.Mutex
	held     map[*bindings.Message]*time.Timer // runtime-delayed redeliveries
	heldWG   sync.WaitGroup
	heldMax  int         // intake waits while this many are held
	heldRoom wake.Signal // fired when a held message leaves held

	lease    time.Duration // 0: no lease extension
	watchdog *watchdog     // enforces handlerTimeout; nil without one

	// With leases: every message received and not settled yet, wherever it
	// is (in the receive loop's hand, the lane, parked behind its key, with
	// a worker, held for a retry); sweepLeases extends their leases.
	leaseMu   sync.Mutex
	unsettled map[*bindings.Message]bool // true while its lease is being extended
	extended  wake.Signal                // fired when an extension ends
	finished  chan struct{}              // closed when stop returns
}

func newDispatcher(function, binding string, typ *bindings.Type, in bindings.Input, policy bindings.Delivery, h Handler, base context.Context, logger *slog.Logger) *dispatcher {
	d := &dispatcher{
		function: function, binding: binding, typ: typ, in: in, policy: policy,
		handler: h, base: base, logger: logger,
		stopped: make(chan struct{}), quit: make(chan struct{}), recvDone: make(chan struct{}), finished: make(chan struct{}),
		held:      make(map[*bindings.Message]*time.Timer),
		settleCtx: context.WithoutCancel(base),
	}
	d.replier, _ = in.(bindings.Replier)
	if _, ok := in.(bindings.LeaseExtender); ok {
		d.lease = policy.LeaseExtension
		if d.lease == 0 {
			if li, ok := in.(interface{ LeaseInterval() time.Duration }); ok {
				d.lease = li.LeaseInterval()
			}
		}
	}
	if d.lease > 0 {
		d.unsettled = make(map[*bindings.Message]bool)
	}
	n := policy.MaxConcurrency
	// Held retries stay unsettled in memory; a broker that bounds what a
	// consumer holds (a prefetch) bounds them, one that does not (Redis
	// streams) would not, so intake waits while this many are held.
	d.heldMax = 4 * (n + policy.BatchSize)
	d.lane = make(chan *bindings.Message, max(n, policy.BatchSize))
	if d.ordered() {
		d.keys = make(map[string][]*bindings.Message)
		d.parked = make(chan struct{}, 4*max(n, policy.BatchSize))
	}
	if policy.HandlerTimeout > 0 {
		d.watchdog = newWatchdog(policy.HandlerTimeout, d.logger)
	}
	for range n {
		d.workers = append(d.workers, newWorker(d, d.lane))
	}
	if d.watchdog != nil {
		d.watchdog.workers = d.workers
	}
	return d
}

// allStuck reports whether every worker holds a handler that ignores its
// context past its timeout: the trigger can take no message.
func (d *dispatcher) allStuck() bool {
	return d.watchdog != nil && d.watchdog.stuck.Load() >= int64(len(d.workers))
}

// ordered: the trigger asked for per-key order and the broker has keys.
func (d *dispatcher) ordered() bool { return d.policy.Ordered && d.typ.Capabilities.Ordering }

func (d *dispatcher) start() {
	ctx, cancel := context.WithCancel(d.base)
	d.recvCancel = cancel
	if d.watchdog != nil {
		go d.watchdog.run()
	}
	for _, w := range d.workers {
		d.workersWG.Add(1)
		go w.run()
	}
	if d.unsettled != nil {
		go d.sweepLeases()
	}
	go d.receiveLoop(ctx)
}

// sweepLeases extends the leases of the unsettled messages every half lease
// interval, each for two intervals, until the dispatcher has stopped: from
// its receipt to its ack or nack, a message's lease never runs shorter than
// an interval and a half, whether it waits for a worker, is being handled,
// or is held for a retry. A message is marked while its extension runs, and
// settling it waits for that one call (bounded by half an interval):
// brokers refuse to extend a settled message.
func (d *dispatcher) sweepLeases() {
	t := time.NewTicker(max(d.lease/2, time.Millisecond))
	defer t.Stop()
	var due []*bindings.Message
	for {
		select {
		case <-t.C:
		case <-d.finished:
			return
		}
		d.leaseMu.Lock()
		for m := range d.unsettled {
			due = append(due, m)
		}
		d.leaseMu.Unlock()
		for _, m := range due {
			d.leaseMu.Lock()
			_, ok := d.unsettled[m]
			if ok {
				d.unsettled[m] = true
			}
			d.leaseMu.Unlock()
			if !ok {
				continue // settled meanwhile
			}
			d.extendLease(m)
			d.leaseMu.Lock()
			d.unsettled[m] = false
			d.extended.Fire()
			d.leaseMu.Unlock()
		}
		clear(due)
		due = due[:0]
	}
}

// track adds msgs, just received, to the unsettled messages; untrack takes
// m out just before it is settled (see sweepLeases).
func (d *dispatcher) track(msgs ...*bindings.Message) {
	if d.unsettled == nil {
		return
	}
	d.leaseMu.Lock()
	for _, m := range msgs {
		d.unsettled[m] = false
	}
	d.leaseMu.Unlock()
}

func (d *dispatcher) untrack(m *bindings.Message) {
	if d.unsettled == nil {
		return
	}
	d.leaseMu.Lock()
	for d.unsettled[m] { // its extension is under way
		ch := d.extended.Wait()
		d.leaseMu.Unlock()
		<-ch
		d.leaseMu.Lock()
	}
	delete(d.unsettled, m)
	d.leaseMu.Unlock()
}

func (d *dispatcher) receiveLoop(ctx context.Context) {
	defer close(d.recvDone)
	d.receiving.Store(true)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if !d.awaitHeldRoom(ctx) {
			break
		}
		msgs, err := d.in.Receive(ctx, d.policy.BatchSize)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, bindings.ErrClosed) {
				break
			}
			d.logger.Error("receive failed; retrying", "error", err, "delay", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		d.track(msgs...)
		for i, m := range msgs {
			if !d.dispatch(ctx, m) {
				// Stopping: give back what was received and not handed out.
				for _, rest := range msgs[i:] {
					d.nack(rest, 0)
				}
				break
			}
		}
	}
	d.receiving.Store(false)
}

// dispatch hands m to a worker, or parks it behind the message of the same
// key a worker is busy with; false when ctx ended first.
func (d *dispatcher) dispatch(ctx context.Context, m *bindings.Message) bool {
	if d.keys == nil || m.Key == "" {
		return d.send(ctx, m)
	}
	if d.park(m) {
		return true
	}
	if d.send(ctx, m) {
		return true
	}
	d.keyMu.Lock()
	delete(d.keys, m.Key) // only this loop parks, so nothing waits behind it yet
	d.keyMu.Unlock()
	return false
}

// park queues m behind its key when a worker is busy with that key and
// returns true; otherwise it marks the key busy and returns false, and m is
// for a free worker. Parking waits for room (ctx cannot end it: the caller
// checked it; room comes as workers take parked messages).
func (d *dispatcher) park(m *bindings.Message) bool {
	d.keyMu.Lock()
	_, busy := d.keys[m.Key]
	if !busy {
		d.keys[m.Key] = nil
		d.keyMu.Unlock()
		return false
	}
	d.keyMu.Unlock()
	select {
	case d.parked <- struct{}{}:
	case <-d.stopped:
		// Stopping: park without room; the worker busy with the key nacks
		// what is parked behind it.
	}
	d.keyMu.Lock()
	defer d.keyMu.Unlock()
	if q, busy := d.keys[m.Key]; busy {
		d.keys[m.Key] = append(q, m)
		return true
	}
	// The key became free meanwhile: m goes to a free worker after all.
	d.keys[m.Key] = nil
	d.release()
	return false
}

// release gives back one slot of parking room, if one was taken.
func (d *dispatcher) release() {
	select {
	case <-d.parked:
	default:
	}
}

// nextOf returns the next message parked behind key, or nil after marking
// the key free. Called by the worker that is busy with key.
func (d *dispatcher) nextOf(key string) *bindings.Message {
	d.keyMu.Lock()
	defer d.keyMu.Unlock()
	q := d.keys[key]
	if len(q) == 0 {
		delete(d.keys, key)
		return nil
	}
	next := q[0]
	q[0] = nil
	d.keys[key] = q[1:]
	d.release()
	return next
}

func (d *dispatcher) send(ctx context.Context, m *bindings.Message) bool {
	select {
	case d.lane <- m:
		return true
	case <-ctx.Done():
		return false
	}
}

// settle acts on the outcome of one attempt. It returns the delay after which
// an ordered worker must retry m in place, or -1 when m is settled.
func (d *dispatcher) settle(m *bindings.Message, res Result, err error) time.Duration {
	ctx := d.settleCtx
	if err == nil && d.replier == nil { // the hot path: allocate nothing
		d.ack(m)
		return -1
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
		if d.ordered() {
			return delay
		}
		d.redeliver(m, delay)
	case Exhausted:
		if nd, ok := d.in.(bindings.DeadLetterer); ok {
			d.untrack(m)
			done, derr := nd.DeadLetter(ctx, m, dec.Err)
			if derr != nil {
				d.logger.Error("native dead letter failed; nacking", "id", m.ID, "error", derr)
			}
			if done && derr == nil {
				return -1
			}
			d.track(m) // still ours
		}
		if d.ordered() {
			return dec.Delay
		}
		d.redeliver(m, dec.Delay)
	}
	return -1
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
// so still owned by this consumer) and handing it to a worker again later.
func (d *dispatcher) redeliver(m *bindings.Message, delay time.Duration) {
	if delay <= 0 || d.typ.Capabilities.DelayedNack {
		d.nack(m, delay)
		return
	}
	d.heldMu.Lock()
	defer d.heldMu.Unlock()
	// Checked under heldMu: stop sets stopping before it takes heldMu to
	// give back the held messages, so a message held after that sweep
	// would never be given back.
	if d.stopping.Load() {
		d.nack(m, 0)
		return
	}
	d.heldWG.Add(1)
	d.held[m] = time.AfterFunc(delay, func() {
		defer d.heldWG.Done()
		d.heldMu.Lock()
		delete(d.held, m)
		d.heldRoom.Fire()
		d.heldMu.Unlock()
		if d.stopping.Load() {
			d.nack(m, 0)
			return
		}
		m.DeliveryCount++ // the broker did not see this redelivery; count it here
		select {
		case d.lane <- m:
		case <-d.stopped:
			d.nack(m, 0)
		}
	})
}

// awaitHeldRoom waits while heldMax messages are held for a retry; false
// when ctx ended first.
func (d *dispatcher) awaitHeldRoom(ctx context.Context) bool {
	if d.typ.Capabilities.DelayedNack {
		return true // the broker holds retries; nothing is held here
	}
	for {
		d.heldMu.Lock()
		if len(d.held) < d.heldMax {
			d.heldMu.Unlock()
			return true
		}
		room := d.heldRoom.Wait()
		d.heldMu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return false
		}
	}
}

func (d *dispatcher) ack(m *bindings.Message) {
	d.untrack(m)
	if err := d.in.Ack(d.settleCtx, m); err != nil {
		d.logger.Error("ack failed; the broker will redeliver", "id", m.ID, "error", err)
	}
}

func (d *dispatcher) nack(m *bindings.Message, delay time.Duration) {
	d.untrack(m)
	if err := d.in.Nack(d.settleCtx, m, delay); err != nil {
		d.logger.Error("nack failed; the broker will redeliver when its lease ends", "id", m.ID, "error", err)
	}
}

// stop stops intake, drains in-flight handlers until ctx ends, then cancels
// what still runs, and gives every unhandled message back to the broker.
func (d *dispatcher) stop(ctx context.Context) {
	defer close(d.finished)
	if d.watchdog != nil {
		defer d.watchdog.close() // deadlines hold through the drain
	}
	d.stopping.Store(true)
	close(d.stopped)
	d.recvCancel()
	<-d.recvDone

	d.heldMu.Lock()
	for m, t := range d.held {
		if t.Stop() {
			delete(d.held, m)
			d.heldWG.Done()
			d.nack(m, 0)
		}
	}
	d.heldMu.Unlock()
	d.heldWG.Wait()

	close(d.quit)
	done := make(chan struct{})
	go func() { d.workersWG.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	d.logger.Warn("shutdown grace period over; cancelling running handlers")
	for _, w := range d.workers {
		if c := w.current.Load(); c != nil {
			c.cancel(errShutdown)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		d.logger.Error("handlers ignore cancellation; leaving their messages to the broker's redelivery")
	}
}

// worker handles messages from one lane, one at a time.
type worker struct {
	d       *dispatcher
	lane    chan *bindings.Message
	current atomic.Pointer[handlerContext]
}

func newWorker(d *dispatcher, lane chan *bindings.Message) *worker {
	return &worker{d: d, lane: lane}
}

func (w *worker) run() {
	defer w.d.workersWG.Done()
	for {
		select {
		case m := <-w.lane:
			w.handle(m)
		case <-w.d.quit:
			for {
				select {
				case m := <-w.lane:
					w.handle(m) // stopping: nacks m and what is parked behind it
				default:
					return
				}
			}
		}
	}
}

// handle handles m and, in an ordered trigger, the messages parked behind
// its key meanwhile.
func (w *worker) handle(m *bindings.Message) {
	w.handleOne(m)
	if w.d.keys == nil || m.Key == "" {
		return
	}
	for next := w.d.nextOf(m.Key); next != nil; next = w.d.nextOf(m.Key) {
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
		delay := w.d.settle(m, res, err)
		if delay < 0 {
			return
		}
		// Ordered trigger: retry in place, holding up only this key.
		if !w.wait(delay) {
			w.d.nack(m, 0)
			return
		}
		m.DeliveryCount++
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

func (w *worker) attempt(m *bindings.Message) (Result, error) {
	d := w.d
	hc := &handlerContext{
		parent: d.base,
		clock:  d.watchdog,
		delivery: functions.Delivery{
			Function: d.function, Binding: d.binding, BindingType: d.typ.Name,
			Attempt: max(m.DeliveryCount, 1), Message: m, Logger: d.logger,
		},
	}
	w.current.Store(hc)
	res, err := d.handler(hc, m)
	w.current.Store(nil)
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

// extendLease extends the lease of m, which this consumer holds, by two
// extension intervals. The call may take half an interval: a broker that
// stopped answering must not hold the sweep, or a worker settling m, past
// the next extension.
func (d *dispatcher) extendLease(m *bindings.Message) {
	ctx, cancel := context.WithTimeout(d.settleCtx, max(d.lease/2, time.Millisecond))
	defer cancel()
	ext := d.in.(bindings.LeaseExtender)
	if err := ext.ExtendLease(ctx, m, 2*d.lease); err != nil {
		d.logger.Warn("lease extension failed", "id", m.ID, "error", err)
	}
}
