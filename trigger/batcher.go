package trigger

import (
	"context"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// batchPath is the dispatcher's path for a function with a BatchHandler. It
// replaces the receive loop and the workers' loop of a single-message
// function; everything else (settling, held retries, leases, key order,
// the watchdog, stop) is the dispatcher's, shared.
//
// Three kinds of goroutine:
//   - the receiver calls Receive (asking for at least maxBatchSize where
//     the broker batches), tracks the leases of what it got and passes it
//     on, so the next Receive overlaps the assembly of the last one;
//   - the assembler gathers received messages, and held retries whose
//     delay is over, into a batch of at most maxBatchSize; it offers the
//     batch to the workers when it is full, or once maxBatchWait has passed
//     since its first message (at once with maxBatchWait 0), and keeps
//     adding to it, up to maxBatchSize, while no worker is free;
//   - maxConcurrency workers each call the BatchHandler once per batch,
//     then settle every item on its own (batchworker.go).
//
// Invariants:
//   - every message received is, at each moment, in exactly one place: the
//     receiver's hand, the assembler's (rest or the batch being built), the
//     lane, a worker's batch, parked behind its key (keyOrder), held for a
//     retry (heldRetries), or settled; its lease is tracked from its
//     receipt until it is settled (acked, nacked, dead-lettered);
//   - what is held (batches being built, rest) is bounded: the assembler
//     takes a new Receive result only once the last one is in a batch or
//     parked, and a batch never exceeds maxBatchSize;
//   - ordered triggers: a batch owns the keys of its items. While the
//     assembler builds it, a message whose key the batch owns joins it (in
//     arrival order); a message whose key another batch owns is parked
//     behind that key, and the worker of that batch takes it into its next
//     batch. A key is freed only when its worker has nothing of it left;
//   - once stopping has begun nothing more is handed to the BatchHandler:
//     what the assembler and the workers hold is nacked.
type batchPath struct {
	d    *dispatcher
	call BatchHandler
	max  int           // maxBatchSize
	wait time.Duration // maxBatchWait

	received chan []*bindings.Message // receiver to assembler
	retries  chan *bindings.Message   // held retries whose delay is over, to the assembler
	lane     chan []*bindings.Message // batches, to any free worker (unbuffered: a taker is a free worker)
}

// newBatchPath returns d's path for call, a BatchHandler.
func newBatchPath(d *dispatcher, call BatchHandler) *batchPath {
	return &batchPath{
		d: d, call: call,
		max: max(d.policy.MaxBatchSize, 1), wait: d.policy.MaxBatchWait,
		received: make(chan []*bindings.Message),
		retries:  make(chan *bindings.Message),
		lane:     make(chan []*bindings.Message),
	}
}

// start runs the receiver, the assembler and the workers; d.recvDone is
// closed once the receiver and the assembler are both done.
func (b *batchPath) start(ctx context.Context) {
	d := b.d
	for _, w := range d.workers {
		d.workersWG.Add(1)
		go w.runBatches(b)
	}
	assembled := make(chan struct{})
	go func() { defer close(assembled); b.assemble(ctx) }()
	go func() {
		defer close(d.recvDone)
		b.receive(ctx)
		<-assembled
	}()
}

// receive receives until ctx ends, at least maxBatchSize at a time where
// the broker batches, passing each result to the assembler.
func (b *batchPath) receive(ctx context.Context) {
	d := b.d
	d.receive(ctx, max(d.policy.BatchSize, b.max), nil, func(msgs []*bindings.Message) bool {
		select {
		case b.received <- msgs:
			return true
		case <-ctx.Done():
			for _, m := range msgs {
				d.nack(m, 0)
			}
			return false
		}
	})
}

// assemble builds batches until ctx ends (stop), then nacks what it holds.
func (b *batchPath) assemble(ctx context.Context) {
	d := b.d
	var (
		batch []*bindings.Message     // being built: at most b.max
		keys  = map[string]struct{}{} // ordered: the keys batch owns
		rest  []*bindings.Message     // received, not yet in batch nor parked
		timer *time.Timer             // maxBatchWait, from batch's first message
		due   bool                    // the wait is over
	)
	var timerC <-chan time.Time
	for {
		for len(rest) > 0 && len(batch) < b.max {
			m := rest[0]
			rest[0] = nil
			rest = rest[1:]
			if b.admit(m, keys) {
				batch = append(batch, m)
			}
		}
		if len(batch) > 0 && b.wait > 0 && timerC == nil && !due {
			if timer == nil {
				timer = time.NewTimer(b.wait)
			} else {
				timer.Reset(b.wait)
			}
			timerC = timer.C
		}
		var lane chan<- []*bindings.Message
		if len(batch) == b.max || (len(batch) > 0 && (b.wait == 0 || due)) {
			lane = b.lane
		}
		var received <-chan []*bindings.Message
		var retries <-chan *bindings.Message
		if len(rest) == 0 && len(batch) < b.max {
			received, retries = b.received, b.retries
		}
		select {
		case lane <- batch:
			batch = make([]*bindings.Message, 0, b.max)
			clear(keys)
			if timerC != nil {
				timer.Stop()
				timerC = nil
			}
			due = false
		case rest = <-received:
		case m := <-retries:
			rest = append(rest, m)
		case <-timerC:
			timerC, due = nil, true
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			for k := range keys {
				d.order.free(k) // nothing is parked behind a key of the batch being built
			}
			for _, m := range append(batch, rest...) {
				d.nack(m, 0)
			}
			return
		}
	}
}

// admit reports whether m goes into the batch being built, whose keys are
// keys; false when it was parked behind its key, which another batch owns.
func (b *batchPath) admit(m *bindings.Message, keys map[string]struct{}) bool {
	d := b.d
	if d.order == nil || m.Key == "" {
		return true
	}
	if _, ok := keys[m.Key]; ok {
		return true
	}
	if !d.order.admit(m, d.stopped) {
		return false
	}
	keys[m.Key] = struct{}{}
	return true
}

// retryHeld gets m back from heldRetries when its delay has passed (an
// unordered trigger's retry or snooze) and gives it to the assembler, for
// a later batch.
func (b *batchPath) retryHeld(m *bindings.Message, counts bool) {
	d := b.d
	if d.stopping.Load() {
		d.nack(m, 0)
		return
	}
	if counts {
		m.DeliveryCount++ // the broker did not see this redelivery; count it here
	}
	select {
	case b.retries <- m:
	case <-d.stopped:
		d.nack(m, 0)
	}
}
