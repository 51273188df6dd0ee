package trigger

import (
	"sync"

	"github.com/tetherfn/tether/bindings"
)

// ackCombiner acks the messages its callers give it in as few calls to the
// input's AckBatch as their overlap allows (flat combining). A caller that
// finds no ack under way acks its message and, before it returns, every
// message the others left meanwhile; a caller that finds one under way
// leaves its message to it and returns at once.
//
// Acked one at a time, a driver's lock (Kafka's window of each partition,
// the memory queue) was taken by every worker once per message and, at 16
// workers, contended: Kafka's trigger spent a tenth of its time in it. An
// ack left to another caller may come a little later, never not at all:
// the caller acking does not return while any is left, and the runtime's
// stop waits for it as for any worker.
type ackCombiner struct {
	ack func([]*bindings.Message) // acks the messages in one call (the input's AckBatch)

	mu      sync.Mutex
	pending []*bindings.Message // left to the caller acking
	spare   []*bindings.Message // the last batch's array, for the next
	busy    bool                // a caller is acking
}

// add acks m, or leaves it to the caller acking now.
func (c *ackCombiner) add(m *bindings.Message) {
	c.mu.Lock()
	c.pending = append(c.pending, m)
	if c.busy {
		c.mu.Unlock()
		return
	}
	c.busy = true
	for len(c.pending) > 0 {
		batch := c.pending
		c.pending = c.spare[:0]
		c.mu.Unlock()
		c.ack(batch)
		clear(batch) // the messages are settled: let them go
		c.mu.Lock()
		c.spare = batch[:0]
	}
	c.busy = false
	c.mu.Unlock()
}
