package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// A batch worker calls the BatchHandler once per batch, within the
// trigger's handlerTimeout and with its panics recovered, then settles each
// item on its own: the item goes through the function's delivery chain
// (observer, tracing, metrics, logging, dead letter, retry, as a single
// message does) around an innermost handler that returns the error the
// BatchHandler gave it, and the dispatcher settles it from the chain's
// outcome. So acks, retries with backoff, held retries, snoozes (no attempt
// counted), native and binding dead letters, metrics, spans and delivery
// events are per item, exactly as for a single-message function. An item
// the BatchHandler handled, on a trigger without tracing or an observer,
// skips the call of the chain: the runtime's own middleware does for it
// what a call would on a success (ownChain.handledItem; its metrics
// counted for the batch at once), and it is acked.
//
// What fails the whole batch fails every item with the same error: a
// panic (*PanicError), the handlerTimeout (ErrHandlerTimeout, when the
// handler returned any error once its context had expired; a handler that
// returns no error after its deadline did its work), the end of the
// shutdown grace period (the failed items are nacked, no attempt counted),
// and a BatchHandler that returned as many errors as there were messages.
//
// Ordered triggers: the worker owns the keys of its batch. An item that
// failed holds back the later items of the batch with the same key: their
// outcome in this call is ignored (a handler may stop handling a key at
// its first failure), they are not settled (their leases go on being
// extended) and come back after it, in order, without an attempt counted:
// once its retry delay has passed (the key waits in place, as a single
// message's retry does), or in the next batch when it was dead-lettered.
// Items of the other keys are settled at once. When a batch is done, the worker takes
// the messages parked behind its keys meanwhile, and its waiting items
// whose delay is over, into its next batch; a key is freed when nothing of
// it is left, and the worker then returns to the lane.

// errBatchItem is what the innermost handler of the per-item chain returns
// when it runs outside a batch worker; it cannot happen.
var errBatchItem = errors.New("trigger: a batch item's chain ran outside its batch")

// batchItem is the innermost handler of a batch function's per-item chain:
// it returns the error the BatchHandler gave the item, which the worker put
// in the item's handler context.
func batchItem(ctx context.Context, _ *bindings.Message) (Result, error) {
	if hc := handlerContextOf(ctx); hc != nil {
		return Result{}, hc.itemErr
	}
	return Result{}, errBatchItem
}

func (w *worker) runBatches(b *batchPath) {
	defer w.d.workersWG.Done()
	for {
		select {
		case ms := <-b.lane:
			w.handleBatch(b, ms)
		case <-w.d.quit:
			for {
				select {
				case ms := <-b.lane:
					w.handleBatch(b, ms) // stopping: nacks ms and what is parked behind its keys
				default:
					return
				}
			}
		}
	}
}

// handleBatch handles ms until every item is settled; on an ordered
// trigger, with the messages parked behind its keys meanwhile.
func (w *worker) handleBatch(b *batchPath, ms []*bindings.Message) {
	d := w.d
	if d.order == nil {
		if d.stopping.Load() {
			for _, m := range ms {
				d.nack(m, 0)
			}
			return
		}
		errs := w.callBatch(b, ms)
		s := w.settling(ms)
		// The handled items first: item acks them before it settles a
		// failed one, whose dead letter may take long to send.
		for i, m := range ms {
			if errs[i] == nil {
				s.item(i, m, nil)
			}
		}
		for i, m := range ms {
			if errs[i] != nil {
				s.item(i, m, errs[i]) // unordered: always settled (retries are held or nacked)
			}
		}
		s.done()
		return
	}
	o := &orderedBatch{w: w, b: b}
	o.run(ms)
}

// heldKey is a key of an ordered batch waiting in place: the item that
// failed, first, and the items of its key held back behind it.
type heldKey struct {
	key    string
	due    time.Time
	counts bool // the failed item's retry is a new attempt (a snooze's is not)
	items  []*bindings.Message
}

// orderedBatch is one worker's handling of an ordered batch and of the
// batches that follow from its keys.
type orderedBatch struct {
	w     *worker
	b     *batchPath
	owned []string   // keys the worker owns, without a held one
	held  []*heldKey // keys waiting for their retry, in the order they failed
}

func (o *orderedBatch) run(batch []*bindings.Message) {
	d := o.w.d
	for _, m := range batch {
		if m.Key != "" && !slices.Contains(o.owned, m.Key) {
			o.owned = append(o.owned, m.Key)
		}
	}
	for {
		if d.stopping.Load() {
			o.giveBack(batch)
			return
		}
		if len(batch) > 0 {
			o.handle(batch)
		}
		batch = o.next()
		if len(batch) > 0 {
			continue
		}
		if len(o.held) == 0 {
			return // every key freed
		}
		// Only held keys are left: wait for the first to be due.
		first := o.held[0].due
		for _, h := range o.held[1:] {
			if h.due.Before(first) {
				first = h.due
			}
		}
		if !o.w.wait(time.Until(first)) {
			o.giveBack(nil)
			return
		}
	}
}

// handle calls the handler on batch and settles what it can: an item of a
// key held (in this batch or before) is held back behind it.
func (o *orderedBatch) handle(batch []*bindings.Message) {
	d := o.w.d
	errs := o.w.callBatch(o.b, batch)
	s := o.w.settling(batch)
	defer s.done()
	var failed, abandoned []string // keys with a failed item in this call; those the shutdown cut short
	for i, m := range batch {
		if h := o.heldFor(m.Key); h != nil {
			h.items = append(h.items, m) // behind the failed item of its key
			continue
		}
		if m.Key != "" && slices.Contains(abandoned, m.Key) {
			d.nack(m, 0) // an earlier item of its key went back to the broker
			continue
		}
		if m.Key != "" && slices.Contains(failed, m.Key) {
			// An earlier item of its key failed in this call and is
			// settled already (dead-lettered): the handler may have left
			// this one alone, so it comes back in the next batch, at once
			// and with no attempt counted, rather than be acked unhandled.
			o.held = append(o.held, &heldKey{key: m.Key, due: time.Now(), items: []*bindings.Message{m}})
			o.owned = remove(o.owned, m.Key)
			continue
		}
		if m.Key != "" && errs[i] != nil {
			if errors.Is(errs[i], errShutdown) {
				abandoned = append(abandoned, m.Key)
			} else {
				failed = append(failed, m.Key)
			}
		}
		delay, counts := s.item(i, m, errs[i])
		if delay < 0 {
			continue
		}
		// Failed: it retries in place after delay, holding its key (a
		// message without a key holds only itself).
		o.held = append(o.held, &heldKey{key: m.Key, due: time.Now().Add(delay), counts: counts, items: []*bindings.Message{m}})
		if m.Key != "" {
			o.owned = remove(o.owned, m.Key)
		}
	}
}

func (o *orderedBatch) heldFor(key string) *heldKey {
	if key == "" {
		return nil
	}
	for _, h := range o.held {
		if h.key == key {
			return h
		}
	}
	return nil
}

// next returns the next batch: the held keys whose delay is over (their
// failed item first, then those held back behind it), then the messages
// parked behind the owned keys, round-robin, at most maxBatchSize in all.
// A key with nothing parked is freed, unless the batch has messages of it:
// the key stays owned until they are settled.
func (o *orderedBatch) next() []*bindings.Message {
	d := o.w.d
	var batch []*bindings.Message
	var inBatch []string // keys with a message in batch
	now := time.Now()
	kept := o.held[:0]
	for _, h := range o.held {
		if h.due.After(now) || len(batch)+len(h.items) > o.b.max && len(batch) > 0 {
			kept = append(kept, h)
			continue
		}
		if h.counts {
			h.items[0].DeliveryCount++
		}
		batch = append(batch, h.items...)
		if h.key != "" {
			o.owned = append(o.owned, h.key)
			inBatch = append(inBatch, h.key)
		}
	}
	clear(o.held[len(kept):])
	o.held = kept
	// One message per key and round, so that one busy key does not fill
	// every batch.
	for took := true; took && len(batch) < o.b.max; {
		took = false
		for i := 0; i < len(o.owned) && len(batch) < o.b.max; i++ {
			k := o.owned[i]
			var m *bindings.Message
			if slices.Contains(inBatch, k) {
				m = d.order.take(k)
			} else if m = d.order.next(k); m == nil { // freed
				o.owned = append(o.owned[:i], o.owned[i+1:]...)
				i--
				continue
			} else {
				inBatch = append(inBatch, k)
			}
			if m != nil {
				batch = append(batch, m)
				took = true
			}
		}
	}
	return batch
}

// giveBack nacks batch, every held item, and what is parked behind the
// worker's keys, freeing them: stopping has begun.
func (o *orderedBatch) giveBack(batch []*bindings.Message) {
	d := o.w.d
	for _, m := range batch {
		d.nack(m, 0)
	}
	for _, h := range o.held {
		for _, m := range h.items {
			d.nack(m, 0)
		}
		if h.key != "" {
			o.owned = append(o.owned, h.key)
		}
	}
	o.held = nil
	for _, k := range o.owned {
		for m := d.order.next(k); m != nil; m = d.order.next(k) {
			d.nack(m, 0)
		}
	}
	o.owned = nil
}

// callBatch calls the BatchHandler on ms as CallBatch does, in a context
// of the batch's own (its attempt the highest of its messages'), watched by
// the trigger's watchdog, and returns one error per item; the items of a
// batch that the end of the shutdown grace cut short fail with errShutdown
// too, which nacks them without an attempt counted (a success, or a dead
// letter the handler sent itself, stands).
func (w *worker) callBatch(b *batchPath, ms []*bindings.Message) []error {
	d := w.d
	attempt := 1
	for _, m := range ms {
		attempt = max(attempt, m.DeliveryCount)
	}
	hc := w.callContext(nil, attempt)
	hc.batchSize = int32(min(len(ms), math.MaxInt32))
	w.current.Store(hc)
	errs := CallBatch(hc, b.call, ms, d.policy.HandlerTimeout)
	w.current.Store(nil)
	if hc.cancelledBy(errShutdown) {
		for i, err := range errs {
			if err != nil {
				errs[i] = fmt.Errorf("%w: %w", errShutdown, err)
			}
		}
	}
	hc.cancel(context.Canceled)
	return errs
}

// errItemsFailed is what CallBatch's handler returns to Timeout and Recover
// when the BatchHandler failed some items: their own errors say how.
var errItemsFailed = errors.New("batch items failed")

// CallBatch calls h once on msgs as the runtime does, and returns one error
// per message (nil: handled). The call runs within timeout (0: no bound)
// and with its panics recovered, by the same Timeout and Recover as a
// single message's. What fails the whole batch fails every item with the
// same error: a panic (*PanicError), a BatchHandler that returned another
// number of errors than messages, and the timeout. Past the timeout, a
// batch with failed items fails whole (ErrHandlerTimeout): an item's own
// error stays its cause, as a single message's does (a Permanent is still
// permanent), and the others get the first failure as text only, since
// another item's Permanent or RetryAfter says nothing of them; a batch
// that returns no error after its deadline did its work. fntest calls it
// too, so that a handler's unit test sees the runtime's outcomes.
func CallBatch(ctx context.Context, h BatchHandler, msgs []*bindings.Message, timeout time.Duration) []error {
	var errs []error
	call := func(ctx context.Context, _ *bindings.Message) (Result, error) {
		errs = h(ctx, msgs)
		switch {
		case errs == nil:
			return Result{}, nil
		case len(errs) != len(msgs):
			return Result{}, fmt.Errorf("batch handler returned %d errors for %d messages", len(errs), len(msgs))
		case slices.ContainsFunc(errs, func(err error) bool { return err != nil }):
			return Result{}, errItemsFailed
		}
		return Result{}, nil
	}
	_, err := Timeout(timeout)(Recover()(call))(ctx, nil)
	out := make([]error, len(msgs))
	switch {
	case err == nil:
	case !errors.Is(err, errItemsFailed):
		for i := range out {
			out[i] = err
		}
	case !errors.Is(err, ErrHandlerTimeout):
		copy(out, errs)
	default:
		first := errs[slices.IndexFunc(errs, func(err error) bool { return err != nil })]
		others := fmt.Errorf("%w after %s: %v", ErrHandlerTimeout, timeout, first)
		for i, e := range errs {
			if e == nil {
				out[i] = others
			} else {
				out[i] = fmt.Errorf("%w after %s: %w", ErrHandlerTimeout, timeout, e)
			}
		}
	}
	return out
}

// itemSettling settles the items of one batch, each through the per-item
// chain, or, for an item the BatchHandler handled when the dispatcher has
// the bare chain (dispatcher.handled), as a call of it would: the handler contexts are
// allocated at once for the items that take the chain, and the items to
// ack are acked together (ackAll), so that a broker that batches its acks
// gets them at once: once the batch is settled, or before a failed item
// is (item).
type itemSettling struct {
	w     *worker
	n     int                 // items in the batch
	hcs   []handlerContext    // the items' contexts, by index in the batch; made by the first that takes the chain
	acked []*bindings.Message // the items to ack, in order

	fast    bool          // handled items skip the call of the chain (dispatcher.handled)
	handled int           // the items that did
	start   time.Duration // since clockEpoch, when settling began: their duration
	chained time.Duration // of that, the time the other items took: not theirs
}

// settling starts the settling of ms.
func (w *worker) settling(ms []*bindings.Message) *itemSettling {
	s := &itemSettling{w: w, n: len(ms), acked: w.acked[:0]}
	d := w.d
	if d.handled != nil && d.replier == nil && !d.origin.Logger.Enabled(d.base, slog.LevelDebug) {
		s.fast = true
		s.start = time.Since(clockEpoch)
	}
	return s
}

// item runs m, the i-th item of the batch, through the per-item chain with
// err, the BatchHandler's error for it, and settles it: as settle, it
// returns the delay after which an ordered worker retries m in place (-1:
// settled) and whether that retry counts as an attempt. An item to ack is
// acked by done, or before the next failed item is settled: a failure's
// settling may take seconds (a dead letter sent through an output that
// retries, a slow nack), and the items handled before it should not wait
// for it unacked, to be delivered again if the process dies meanwhile.
func (s *itemSettling) item(i int, m *bindings.Message, err error) (time.Duration, bool) {
	d := s.w.d
	if err == nil && s.fast {
		d.handled.handledItem(m)
		s.handled++
		s.acked = append(s.acked, m)
		return -1, false
	}
	if err != nil {
		s.ack()
	}
	if !s.fast {
		return s.chain(i, m, err)
	}
	// The chain's metrics count this item's time (a dead letter sent, a
	// nack) as its duration: it is no part of the handled items'.
	start := time.Since(clockEpoch)
	delay, counts := s.chain(i, m, err)
	s.chained += time.Since(clockEpoch) - start
	return delay, counts
}

// chain is item through the per-item chain.
func (s *itemSettling) chain(i int, m *bindings.Message, err error) (time.Duration, bool) {
	d := s.w.d
	if s.hcs == nil {
		s.hcs = make([]handlerContext, s.n)
	}
	hc := &s.hcs[i]
	s.w.initContext(hc, m, max(m.DeliveryCount, 1))
	hc.itemErr = err
	res, err := d.handler(hc, m)
	hc.cancel(context.Canceled)
	if err == nil && d.replier == nil { // settle's hot path, deferred to done
		s.acked = append(s.acked, m)
		return -1, false
	}
	return d.settle(m, res, err)
}

// done counts the items handled without the chain, acks the items to ack,
// and keeps the slice for the worker's next batch.
func (s *itemSettling) done() {
	if s.handled > 0 {
		// Each handled item's duration is its share of the settling's
		// time, less what the items through the chain took (they count
		// it); Logging logs nothing for them (debug is off), and Retry,
		// Recover and batchItem do nothing on a success.
		each := max(time.Since(clockEpoch)-s.start-s.chained, 0) / time.Duration(s.handled)
		s.w.d.handled.handledItems(s.w.shard, s.handled, each)
	}
	s.ack()
	s.w.acked = s.acked[:0]
}

// ack acks the items to ack so far.
func (s *itemSettling) ack() {
	s.acked = s.w.d.ackAll(s.acked)
}

// ackAll acks msgs, settled as handled: their leases untracked at once,
// and, when the input acks many at once (bindings.BatchAcker), in one
// call. It returns msgs emptied, its messages let go, for the caller's
// next ones.
func (d *dispatcher) ackAll(msgs []*bindings.Message) []*bindings.Message {
	if len(msgs) == 0 {
		return msgs
	}
	d.leases.untrack(msgs...)
	if d.batchAcker != nil && len(msgs) > 1 { // one message: Ack spares AckBatch's slice of ids (Redis, NATS, PostgreSQL)
		if err := d.batchAcker.AckBatch(d.settleCtx, msgs); err != nil {
			d.origin.Logger.Error("ack failed; the broker will redeliver", "messages", len(msgs), "error", err)
		}
	} else {
		for _, m := range msgs {
			d.ackOne(m)
		}
	}
	clear(msgs)
	return msgs[:0]
}

// remove returns keys without k (keys hold each key once).
func remove(keys []string, k string) []string {
	if i := slices.Index(keys, k); i >= 0 {
		return slices.Delete(keys, i, i+1)
	}
	return keys
}
