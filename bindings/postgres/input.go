package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/internal/ackbatch"
)

// ErrLeaseLost: the row's lease ran out and another consumer claimed it, or
// it was acked.
var ErrLeaseLost = errors.New("lease lost: the row was claimed again or removed")

// ErrSettled: the message was already acked or nacked here.
var ErrSettled = errors.New("message already settled")

// input consumes one queue table.
type input struct {
	pool  *pgxpool.Pool
	log   *slog.Logger
	table table

	timeout       time.Duration
	pollInterval  time.Duration
	leaseDuration time.Duration

	wake      *broadcast // a row may have become available
	done      chan struct{}
	closed    atomic.Bool
	claiming  sync.RWMutex       // held (shared) by claims; Close waits for them
	stop      context.CancelFunc // ends the listener
	listening sync.WaitGroup

	acks *ackbatch.Writer[int64]

	mu       sync.Mutex
	inFlight map[int64]int32 // id → attempts (the lease) of rows received here, not settled
}

// lease is a message's Handle: the row and the attempt that claimed it.
type lease struct {
	in       *input
	id       int64
	attempts int32
}

func newInput(ctx context.Context, cfg bindings.Config) (*input, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	pool, err := connect(ctx, s, cfg.Logger)
	if err != nil {
		return nil, err
	}
	ectx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.table.ensure(ectx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	in := &input{
		pool:          pool,
		log:           cfg.Logger.With("table", s.table.name),
		table:         s.table,
		timeout:       s.timeout,
		pollInterval:  s.pollInterval,
		leaseDuration: s.leaseDuration,
		wake:          newBroadcast(),
		done:          make(chan struct{}),
		stop:          stop,
		inFlight:      map[int64]int32{},
	}
	in.acks = ackbatch.New(in.log, "delete acked rows", func(ctx context.Context, ids []int64) error {
		ctx, cancel := context.WithTimeout(ctx, in.timeout)
		defer cancel()
		_, err := in.pool.Exec(ctx, in.table.ack, ids)
		return err
	})
	in.listening.Add(1)
	go in.listen(lctx, s.pool.ConnConfig)
	return in, nil
}

// listen holds a connection that LISTENs on the table's channel and wakes
// receivers on every notification, reconnecting after a failure (a server
// restart) until the input closes.
func (in *input) listen(ctx context.Context, cc *pgx.ConnConfig) {
	defer in.listening.Done()
	retry := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := in.listenOnce(ctx, cc)
		if ctx.Err() != nil {
			return
		}
		in.log.Warn("listening for notifications; receivers poll until it works again", "err", err, "retry", retry)
		select {
		case <-time.After(retry):
		case <-ctx.Done():
			return
		}
		retry = min(2*retry, in.pollInterval)
	}
}

func (in *input) listenOnce(ctx context.Context, cc *pgx.ConnConfig) error {
	cctx, cancel := context.WithTimeout(ctx, in.timeout)
	conn, err := pgx.ConnectConfig(cctx, cc.Copy())
	if err == nil {
		_, err = conn.Exec(cctx, "LISTEN "+pgx.Identifier{in.table.channel}.Sanitize())
	}
	cancel()
	if err != nil {
		if conn != nil {
			conn.Close(context.Background())
		}
		return err
	}
	defer conn.Close(context.Background())
	// Rows added while no one listened sent notifications no one heard.
	in.wake.signal()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		in.wake.signal()
	}
}

// Receive claims up to limit available rows, waiting for a notification, the
// next lease or nack delay to run out, or pollInterval, while there is none.
func (in *input) Receive(ctx context.Context, limit int) ([]*bindings.Message, error) {
	limit = max(limit, 1)
	for {
		if in.closed.Load() {
			return nil, in.errorf("receive", bindings.ErrClosed)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		woken := in.wake.wait() // before looking, so no signal falls in between
		in.claiming.RLock()
		if in.closed.Load() {
			in.claiming.RUnlock()
			return nil, in.errorf("receive", bindings.ErrClosed)
		}
		msgs, err := in.claim(ctx, limit)
		in.claiming.RUnlock()
		if err == nil && len(msgs) > 0 {
			return msgs, nil
		}
		var wait time.Duration
		if err == nil {
			wait, err = in.untilNext(ctx)
		}
		if err != nil {
			if in.closed.Load() {
				return nil, in.errorf("receive", bindings.ErrClosed)
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, in.errorf("receive", err)
		}
		timer := time.NewTimer(wait)
		select {
		case <-woken:
		case <-timer.C:
		case <-ctx.Done():
		case <-in.done:
		}
		timer.Stop()
	}
}

// claim leases up to limit available rows in one statement, which commits
// the lease and the counted attempt before any handler runs.
func (in *input) claim(ctx context.Context, limit int) ([]*bindings.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	rows, err := in.pool.Query(ctx, in.table.claim, limit, in.leaseDuration.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	var msgs []*bindings.Message
	for rows.Next() {
		var (
			l       = &lease{in: in}
			key, ct string
			data    []byte
			md      map[string]any
			created time.Time
		)
		if err := rows.Scan(&l.id, &key, &data, &ct, &md, &l.attempts, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim: read row: %w", err)
		}
		msgs = append(msgs, &bindings.Message{
			ID:            strconv.FormatInt(l.id, 10),
			Data:          data,
			ContentType:   ct,
			Metadata:      metadataStrings(md, in.table.name),
			DeliveryCount: int(l.attempts),
			Key:           key,
			Time:          created,
			Handle:        l,
		})
	}
	if err := rows.Err(); err != nil {
		// The statement failed, and with it every lease: nothing is claimed.
		return nil, fmt.Errorf("claim: %w", err)
	}
	slices.SortFunc(msgs, func(a, b *bindings.Message) int {
		return cmp.Compare(a.Handle.(*lease).id, b.Handle.(*lease).id)
	})
	in.mu.Lock()
	for _, m := range msgs {
		l := m.Handle.(*lease)
		in.inFlight[l.id] = l.attempts
	}
	in.mu.Unlock()
	return msgs, nil
}

// untilNext is how long to wait before a row may be available: until the
// earliest lease or nack delay ends, at most pollInterval.
func (in *input) untilNext(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	var ms *int64
	if err := in.pool.QueryRow(ctx, in.table.next).Scan(&ms); err != nil {
		return 0, fmt.Errorf("next deadline: %w", err)
	}
	switch {
	case ms == nil: // empty table: only a notification (or the poll) helps
		return in.pollInterval, nil
	case *ms <= 0:
		// Available, yet not claimed: other consumers hold the rows locked
		// while they claim them. Look again shortly.
		return min(in.pollInterval, 20*time.Millisecond), nil
	}
	return min(in.pollInterval, time.Duration(*ms+1)*time.Millisecond), nil
}

// metadataStrings turns the metadata column into message metadata: strings
// as they are, other JSON values as their JSON text.
func metadataStrings(md map[string]any, table string) map[string]string {
	out := make(map[string]string, len(md)+1)
	for k, v := range md {
		if s, ok := v.(string); ok {
			out[k] = s
			continue
		}
		b, _ := json.Marshal(v) // decoded from JSON, so it encodes
		out[k] = string(b)
	}
	out["table"] = table
	return out
}

// Ack deletes the row. It queues the id and returns: a writer deletes the rows
// queued meanwhile with one statement, at once. If that fails the row stays
// and is delivered again when its lease ends, as it would be had the
// handler's process died. A row already gone (acked by a consumer that
// claimed it after this lease ran out) is fine: it was handled.
func (in *input) Ack(_ context.Context, m *bindings.Message) error {
	l, err := in.settle(m, "ack")
	if err != nil {
		return err
	}
	if !in.acks.Ack(l.id) {
		return in.errorf("ack "+m.ID, bindings.ErrClosed)
	}
	return nil
}

// AckBatch implements bindings.BatchAcker: Ack for each of msgs, queued
// for the deleting writer at once.
func (in *input) AckBatch(_ context.Context, msgs []*bindings.Message) error {
	var errs []error
	ids := make([]int64, 0, len(msgs))
	for _, m := range msgs {
		l, err := in.settle(m, "ack")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, l.id)
	}
	if len(ids) > 0 && !in.acks.AckAll(ids...) {
		errs = append(errs, in.errorf(fmt.Sprintf("ack %d rows", len(ids)), bindings.ErrClosed))
	}
	return errors.Join(errs...)
}

// Nack makes the row available again once delay has passed; the next claim
// counts the delivery. Nothing changes if the lease was lost: the row is
// another consumer's now.
func (in *input) Nack(ctx context.Context, m *bindings.Message, delay time.Duration) error {
	l, err := in.settle(m, "nack")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	if _, err := in.pool.Exec(ctx, in.table.nack, l.id, l.attempts, max(delay, 0).Milliseconds()); err != nil {
		return in.errorf("nack "+m.ID, err)
	}
	// Receivers of this input wait for the old next deadline; let them look
	// again (the trigger wakes everyone only when the row is available now).
	in.wake.signal()
	return nil
}

// LeaseInterval is how often the runtime extends the lease of a row whose
// handler still runs (when the trigger's leaseExtension is 0): a third of
// leaseDuration, so that two extensions may fail before the lease ends.
func (in *input) LeaseInterval() time.Duration { return in.leaseDuration / 3 }

// ExtendLeases makes the leases of msgs' rows end d from now, or
// leaseDuration from now if that is later, in one UPDATE. A row claimed by
// another consumer since (its lease ran out) is not touched; its message's
// error wraps ErrLeaseLost.
func (in *input) ExtendLeases(ctx context.Context, msgs []*bindings.Message, d time.Duration) error {
	var errs []error
	ids := make([]int64, 0, len(msgs))
	attempts := make([]int32, 0, len(msgs))
	names := make(map[int64]string, len(msgs))
	for _, m := range msgs {
		l, err := in.handle(m, "extend lease")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, l.id)
		attempts = append(attempts, l.attempts)
		names[l.id] = m.ID
	}
	if len(ids) == 0 {
		return errors.Join(errs...)
	}
	ctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	rows, err := in.pool.Query(ctx, in.table.extend, ids, attempts, max(d, in.leaseDuration).Milliseconds())
	if err != nil {
		return errors.Join(append(errs, in.errorf(fmt.Sprintf("extend %d leases", len(ids)), err))...)
	}
	extended, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return errors.Join(append(errs, in.errorf(fmt.Sprintf("extend %d leases", len(ids)), err))...)
	}
	for _, id := range extended {
		delete(names, id)
	}
	for _, id := range ids {
		if name, lost := names[id]; lost {
			errs = append(errs, in.errorf("extend lease of "+name, ErrLeaseLost))
		}
	}
	return errors.Join(errs...)
}

// Close stops receiving and gives the rows still in flight back at once,
// which wakes the other consumers.
func (in *input) Close() error {
	if !in.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(in.done)
	// A barrier: claims under way finish first, so that the rows they take
	// are among those given back below.
	in.claiming.Lock()
	//lint:ignore SA2001 an empty critical section on purpose: the barrier above
	in.claiming.Unlock()
	in.stop()
	in.listening.Wait()
	in.acks.Close()

	in.mu.Lock()
	ids := make([]int64, 0, len(in.inFlight))
	attempts := make([]int32, 0, len(in.inFlight))
	for id, a := range in.inFlight {
		ids = append(ids, id)
		attempts = append(attempts, a)
	}
	clear(in.inFlight)
	in.mu.Unlock()

	var err error
	if len(ids) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), in.timeout)
		_, err = in.pool.Exec(ctx, in.table.release, ids, attempts, 0)
		cancel()
		if err != nil {
			err = in.errorf("close", fmt.Errorf("give back %d rows in flight (they return when their lease ends): %w", len(ids), err))
		}
	}
	in.pool.Close()
	return err
}

// settle takes m out of flight for an ack or a nack.
func (in *input) settle(m *bindings.Message, op string) (*lease, error) {
	l, err := in.handle(m, op)
	if err != nil {
		return nil, err
	}
	in.mu.Lock()
	a, ok := in.inFlight[l.id]
	if ok && a == l.attempts {
		delete(in.inFlight, l.id)
	}
	in.mu.Unlock()
	if !ok || a != l.attempts {
		if in.closed.Load() {
			return nil, in.errorf(op+" "+m.ID, fmt.Errorf("given back by Close: %w", bindings.ErrClosed))
		}
		return nil, in.errorf(op+" "+m.ID, ErrSettled)
	}
	return l, nil
}

func (in *input) handle(m *bindings.Message, op string) (*lease, error) {
	if m == nil {
		return nil, in.errorf(op, errors.New("nil message"))
	}
	l, ok := m.Handle.(*lease)
	if !ok || l.in != in {
		return nil, in.errorf(op+" "+m.ID, errors.New("message was not received from this input"))
	}
	return l, nil
}

func (in *input) errorf(op string, err error) error {
	return fmt.Errorf("postgres queue %s: %s: %w", in.table.name, op, err)
}

// broadcast wakes every waiter at once: wait returns a channel that the next
// signal closes.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBroadcast() *broadcast { return &broadcast{ch: make(chan struct{})} }

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broadcast) signal() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}

// Healthy implements bindings.HealthChecker: a ping on a pooled
// connection, so that /readyz answers not ready while PostgreSQL cannot be
// reached.
func (in *input) Healthy(ctx context.Context) error {
	if err := in.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgresql unreachable: %w", err)
	}
	return nil
}
