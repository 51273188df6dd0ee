package postgres

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// acker writes acknowledgements behind the handlers' backs: Ack queues the
// id and returns, and one writer sends everything queued as one command, at
// once, again and again. A handler's worker so never waits for a round trip
// to the database, and under load one DELETE removes many rows. An ack that is lost (a
// failed write, a crash before it) only means a redelivery, which
// at-least-once allows; close writes what is queued before it returns.
type acker struct {
	write func(ctx context.Context, ids []int64) error
	log   *slog.Logger

	mu      sync.Mutex
	queued  []int64
	closed  bool
	kick    chan struct{} // capacity 1: something is queued
	stopped chan struct{} // closed when the writer has written its last
}

// maxAckBatch bounds the ids of one command.
const maxAckBatch = 1000

func newAcker(log *slog.Logger, write func(ctx context.Context, ids []int64) error) *acker {
	a := &acker{write: write, log: log, kick: make(chan struct{}, 1), stopped: make(chan struct{})}
	go a.run()
	return a
}

// ack queues id; false once the acker is closed.
func (a *acker) ack(id int64) bool {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return false
	}
	a.queued = append(a.queued, id)
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
	return true
}

func (a *acker) run() {
	defer close(a.stopped)
	var batch []int64
	for {
		<-a.kick
		a.mu.Lock()
		batch, a.queued = a.queued, batch[:0]
		closed := a.closed
		a.mu.Unlock()
		for len(batch) > 0 {
			n := min(len(batch), maxAckBatch)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := a.write(ctx, batch[:n]); err != nil {
				a.log.Warn("delete acked rows; they will be delivered again when their lease ends", "rows", n, "err", err)
			}
			cancel()
			batch = batch[n:]
		}
		if closed {
			return
		}
	}
}

// close writes what is queued and stops the writer.
func (a *acker) close() {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
	a.mu.Unlock()
	<-a.stopped
}
