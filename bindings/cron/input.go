package cron

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/wake"
)

// lockTimeout bounds one call to the lock store.
const lockTimeout = 5 * time.Second

// input fires ticks from a goroutine that sleeps until the schedule's next
// time; Receive hands them out, and nacked ones again once their delay has
// passed. A tick is unsettled from its firing until it is acked.
type input struct {
	s      settings
	log    *slog.Logger
	lock   locker // nil without a lock store
	holder string // this replica, in the lock store

	mu        sync.Mutex
	ready     []*tick // fired or due again, not handed out
	retries   []*tick // nacked, waiting for their delay
	unsettled int
	wake      wake.Signal
	closed    bool

	// leaseMu orders taking and giving back the lease that keeps ticks from
	// overlapping across replicas; leased says this replica has it.
	leaseMu sync.Mutex
	leased  bool

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type tick struct {
	at    time.Time
	id    string
	fired time.Time
	count int               // deliveries so far
	msg   *bindings.Message // of the latest delivery
	out   bool              // handed out and neither acked nor nacked
	due   time.Time         // nacked: when it may go again
}

func openInput(ctx context.Context, cfg bindings.Config) (*input, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	in := &input{s: s, log: cfg.Logger, holder: replicaID(), done: make(chan struct{})}
	switch {
	case s.redisHost != "":
		in.lock, err = openRedisLock(ctx, cfg, s)
	case s.pgConn != "":
		in.lock, err = openPGLock(ctx, s)
	}
	if err != nil {
		return nil, err
	}
	in.wg.Add(1)
	go in.run()
	if in.lock != nil && !s.allowOverlap {
		in.wg.Add(1)
		go in.renew()
	}
	return in, nil
}

// replicaID names this process in the lock store.
func replicaID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// run fires the schedule's ticks until Close.
func (in *input) run() {
	defer in.wg.Done()
	next := in.s.sched.next(time.Now())
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-in.done:
			return
		}
		if now := time.Now(); now.Before(next) { // the wall clock moved back
			timer.Reset(next.Sub(now))
			continue
		}
		in.fire(next)
		after := in.s.sched.next(next)
		if now := time.Now(); now.Sub(after) > time.Second {
			// Suspended, or the lock store was slow: the ticks in between
			// are gone, and firing them late in a burst would be worse.
			in.log.Warn("cron: ticks missed", "from", after.UTC().Format(time.RFC3339Nano), "until", now.UTC().Format(time.RFC3339Nano))
			after = in.s.sched.next(now)
		}
		next = after
		timer.Reset(time.Until(next))
	}
}

// Fire implements bindings.Firer: a tick now, on demand (tether send
// <cron-binding>). It is this replica's: no lock is claimed, and it fires
// even while a previous tick is unsettled; scheduled ticks are skipped
// while it is (unless allowOverlap is set), as after any tick.
func (in *input) Fire(context.Context) (string, error) {
	now := time.Now()
	t := &tick{at: now, id: now.UTC().Format(time.RFC3339Nano), fired: now}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return "", fmt.Errorf("cron input: %w", bindings.ErrClosed)
	}
	in.unsettled++
	in.ready = append(in.ready, t)
	in.wake.Fire()
	in.log.Info("cron: tick fired on demand", "tick", t.id)
	return t.id, nil
}

// fire makes the tick at a message, unless the previous tick is unsettled or
// another replica fires it.
func (in *input) fire(at time.Time) {
	id := at.UTC().Format(time.RFC3339Nano)
	log := in.log.With("tick", id)
	in.mu.Lock()
	busy := !in.s.allowOverlap && in.unsettled > 0
	in.mu.Unlock()
	if busy {
		log.Warn("cron: tick skipped: the previous tick is still unsettled (allowOverlap is false)")
		return
	}
	if in.lock != nil {
		ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
		defer cancel()
		won, err := in.lock.claim(ctx, in.s.prefix+":"+id, in.holder, in.s.ttl)
		if err != nil {
			log.Error("cron: tick skipped: the lock store failed", "error", err)
			return
		}
		if !won {
			log.Debug("cron: tick fired by another replica")
			return
		}
		if !in.s.allowOverlap {
			in.leaseMu.Lock()
			ok, err := in.lock.lease(ctx, in.runningKey(), in.holder, in.s.ttl)
			in.leased = ok && err == nil
			in.leaseMu.Unlock()
			switch {
			case err != nil:
				log.Error("cron: tick skipped: the lock store failed", "error", err)
				return
			case !ok:
				log.Warn("cron: tick skipped: the previous tick is still unsettled on another replica (allowOverlap is false)")
				return
			}
		}
	}
	t := &tick{at: at, id: id, fired: time.Now()}
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.unsettled++
	in.ready = append(in.ready, t)
	in.wake.Fire()
	in.mu.Unlock()
	log.Debug("cron: tick fired")
}

func (in *input) runningKey() string { return in.s.prefix + ":running" }

// renew keeps the running lease while this replica's tick is unsettled.
func (in *input) renew() {
	defer in.wg.Done()
	every := time.NewTicker(max(in.s.ttl/3, 10*time.Millisecond))
	defer every.Stop()
	for {
		select {
		case <-every.C:
		case <-in.done:
			return
		}
		in.leaseMu.Lock()
		if in.leased {
			ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
			ok, err := in.lock.lease(ctx, in.runningKey(), in.holder, in.s.ttl)
			cancel()
			if err != nil || !ok {
				in.log.Warn("cron: could not renew the lease of the unsettled tick; another replica may fire the next one", "error", err)
			}
		}
		in.leaseMu.Unlock()
	}
}

// releaseIfSettled gives the running lease back once no tick is unsettled.
func (in *input) releaseIfSettled() {
	if in.lock == nil || in.s.allowOverlap {
		return
	}
	in.leaseMu.Lock()
	defer in.leaseMu.Unlock()
	in.mu.Lock()
	settled := in.unsettled == 0
	in.mu.Unlock()
	if !in.leased || !settled {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	if err := in.lock.release(ctx, in.runningKey(), in.holder); err != nil {
		in.log.Warn("cron: could not release the lease of the settled tick; other replicas skip ticks until it expires", "error", err, "lockTTL", in.s.ttl)
	}
	in.leased = false
}

// Receive implements bindings.Input: one tick at a time.
func (in *input) Receive(ctx context.Context, _ int) ([]*bindings.Message, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		in.mu.Lock()
		if in.closed {
			in.mu.Unlock()
			return nil, fmt.Errorf("cron input: %w", bindings.ErrClosed)
		}
		now := time.Now()
		for len(in.retries) > 0 && !in.retries[0].due.After(now) {
			in.ready = append(in.ready, in.retries[0])
			in.retries = slices.Delete(in.retries, 0, 1)
		}
		if len(in.ready) > 0 {
			t := in.ready[0]
			in.ready = slices.Delete(in.ready, 0, 1)
			m := in.deliverLocked(t)
			in.mu.Unlock()
			return []*bindings.Message{m}, nil
		}
		var due <-chan time.Time
		if len(in.retries) > 0 {
			d := in.retries[0].due.Sub(now)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			due = timer.C
		}
		ch := in.wake.Wait()
		in.mu.Unlock()
		select {
		case <-ch:
		case <-due:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-in.done:
			return nil, fmt.Errorf("cron input: %w", bindings.ErrClosed)
		}
	}
}

func (in *input) deliverLocked(t *tick) *bindings.Message {
	t.count++
	t.out = true
	data, _ := json.Marshal(Tick{Schedule: in.s.sched.spec, ScheduledTime: t.at.UTC(), FiredTime: t.fired.UTC()})
	t.msg = &bindings.Message{
		ID:          t.id,
		Data:        data,
		ContentType: "application/json",
		Metadata: map[string]string{
			MetaSchedule:      in.s.sched.spec,
			MetaScheduledTime: t.id,
			MetaTimeZone:      in.s.sched.where.String(),
			MetaReadTimeUTC:   t.fired.UTC().Format(time.RFC3339Nano),
		},
		DeliveryCount: t.count,
		Time:          t.at,
		Handle:        t,
	}
	return t.msg
}

func (in *input) settleLocked(m *bindings.Message, verb string) (*tick, error) {
	t, ok := m.Handle.(*tick)
	if !ok || t == nil {
		return nil, fmt.Errorf("%s message %q: not received from this binding", verb, m.ID)
	}
	if t.msg != m || !t.out {
		return nil, fmt.Errorf("%s message %q: already settled", verb, m.ID)
	}
	return t, nil
}

// Ack implements bindings.Input: the tick is settled, and the next may fire.
func (in *input) Ack(_ context.Context, m *bindings.Message) error {
	in.mu.Lock()
	t, err := in.settleLocked(m, "ack")
	if err != nil {
		in.mu.Unlock()
		return err
	}
	t.out = false
	if in.closed { // Close already dropped it
		in.mu.Unlock()
		return nil
	}
	in.unsettled--
	in.mu.Unlock()
	in.releaseIfSettled()
	return nil
}

// Nack implements bindings.Input: the tick is delivered again once delay has
// passed, with DeliveryCount+1. It stays unsettled meanwhile, so the ticks
// that come in between are skipped unless allowOverlap is set.
func (in *input) Nack(_ context.Context, m *bindings.Message, delay time.Duration) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	t, err := in.settleLocked(m, "nack")
	if err != nil {
		return err
	}
	t.out = false
	if in.closed {
		return nil
	}
	t.due = time.Now().Add(max(delay, 0))
	i, _ := slices.BinarySearchFunc(in.retries, t.due, func(x *tick, due time.Time) int { return x.due.Compare(due) })
	in.retries = slices.Insert(in.retries, i, t)
	in.wake.Fire()
	return nil
}

// Close implements bindings.Input. A cron tick is not kept anywhere: ticks
// fired and not settled are dropped, and the next tick fires as scheduled.
func (in *input) Close() error {
	in.closeOnce.Do(func() {
		in.mu.Lock()
		in.closed = true
		dropped := in.unsettled
		in.unsettled = 0
		in.ready, in.retries = nil, nil
		in.mu.Unlock()
		close(in.done)
		in.wg.Wait()
		if dropped > 0 {
			in.log.Warn("cron: closed with unsettled ticks; they are not fired again", "ticks", dropped)
		}
		if in.lock != nil {
			in.releaseIfSettled()
			in.lock.close()
		}
	})
	return nil
}
