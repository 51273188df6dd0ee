// Package ackbatch writes a driver's acknowledgements behind its handlers'
// backs: Ack queues an id and returns, and one writer sends everything
// queued as one command (one XACK, one DELETE...), again and again. A
// worker so never waits for a round trip to the broker, and under load one
// command carries many ids. An ack that is lost (a failed write, a crash
// before it) only means a redelivery, which at-least-once allows; Close
// writes what is queued before it returns.
//
//	acks := ackbatch.New(logger, "acknowledge entries", func(ctx context.Context, ids []string) error {
//		return rdb.XAck(ctx, stream, group, ids...).Err()
//	})
//	defer acks.Close()
//	acks.Ack(id)
package ackbatch

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"
)

// MaxBatch bounds the ids of one write.
const MaxBatch = 1000

// Writer queues ids and writes them in batches from one goroutine.
type Writer[ID any] struct {
	write func(ctx context.Context, ids []ID) error
	log   *slog.Logger
	what  string // for the log line of a failed write

	mu      sync.Mutex
	queued  []ID
	closed  bool
	kick    chan struct{} // capacity 1: something is queued
	stopped chan struct{} // closed when the writer has written its last
}

// New starts a writer; what names its writes in the log line of a failure
// ("acknowledge entries", "delete acked rows").
func New[ID any](log *slog.Logger, what string, write func(ctx context.Context, ids []ID) error) *Writer[ID] {
	w := &Writer[ID]{write: write, log: log, what: what, kick: make(chan struct{}, 1), stopped: make(chan struct{})}
	go w.run()
	return w
}

// Ack queues id; false once the writer is closed.
func (w *Writer[ID]) Ack(id ID) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	w.queued = append(w.queued, id)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return true
}

// AckAll queues ids, as many Acks would, with one wake-up of the writer;
// false once the writer is closed.
func (w *Writer[ID]) AckAll(ids ...ID) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	w.queued = append(w.queued, ids...)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return true
}

func (w *Writer[ID]) run() {
	defer close(w.stopped)
	var batch []ID
	for {
		<-w.kick
		runtime.Gosched()
		w.mu.Lock()
		batch, w.queued = w.queued, batch[:0]
		closed := w.closed
		w.mu.Unlock()
		for rest := batch; len(rest) > 0; {
			n := min(len(rest), MaxBatch)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := w.write(ctx, rest[:n]); err != nil {
				w.log.Warn(w.what+" failed; they will be delivered again", "ids", n, "err", err)
			}
			cancel()
			rest = rest[n:]
		}
		// batch, whole, is the queue of the next round: its capacity
		// spares the appends of Ack a new array each round.
		clear(batch)
		if closed {
			return
		}
	}
}

// Close writes what is queued and stops the writer.
func (w *Writer[ID]) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
	<-w.stopped
}
