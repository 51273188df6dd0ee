package trigger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// TestOrderedRetryKeepsTheLease: an ordered trigger retries a failed
// message in place, holding it for the retry delay. On a broker with leases
// (JetStream's AckWait, SQS FIFO's visibility timeout) the lease must be
// extended meanwhile, or the broker hands the message to another consumer
// while this one still retries it: handled twice, and out of order.
func TestOrderedRetryKeepsTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lease = 10 * time.Second // extensions every 10s, each for 20s
		in := leaseInput{newFakeInput()}
		typ := &bindings.Type{Name: "test.lease", Capabilities: bindings.Capabilities{Ordering: true, Lease: true, DelayedNack: true}}
		policy := bindings.DefaultDeliveryPolicy()
		policy.Ordered, policy.MaxConcurrency, policy.LeaseExtension = true, 1, lease
		calls := 0
		d := startDispatcher(in, typ, policy, func(ctx context.Context, _ *bindings.Message) (Result, error) {
			if calls++; calls == 1 {
				return Result{}, functions.RetryAfter(time.Minute, errors.New("not yet"))
			}
			return Result{}, nil
		})
		defer d.stop(context.Background())

		start := time.Now()
		in.msgs <- &bindings.Message{ID: "m1", Key: "k", DeliveryCount: 1}
		held := start.Add(2 * lease) // the lease the runtime can count on at first
		for {
			ev := <-in.events
			if ev.at.After(held) {
				t.Fatalf("%s at +%s: the lease ran out at +%s while the message was held for its retry",
					ev.op, ev.at.Sub(start), held.Sub(start))
			}
			if ev.op == "ack" {
				break
			}
			if ev.op != "extend" || ev.id != "m1" {
				t.Fatalf("unexpected %+v", ev)
			}
			held = ev.at.Add(ev.delay)
		}
		if elapsed := time.Since(start); elapsed < time.Minute {
			t.Fatalf("acked after %s, before the retry delay", elapsed)
		}
	})
}

// TestWaitingMessagesKeepTheirLease: messages received while every worker is
// busy wait in the dispatcher (in the lane, or parked behind their key when
// ordered) and must keep their lease meanwhile, or the broker hands them to
// another consumer and they are handled twice. With one worker held for two
// minutes by the first message, the others wait those two minutes; no event
// of any message may come after the lease it was known to hold.
func TestWaitingMessagesKeepTheirLease(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		t.Run(map[bool]string{false: "unordered", true: "ordered"}[ordered], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { waitingMessagesKeepTheirLease(t, ordered) })
		})
	}
}

func waitingMessagesKeepTheirLease(t *testing.T, ordered bool) {
	const lease = 10 * time.Second // extensions every 10s, each for 20s
	in := leaseInput{newFakeInput()}
	typ := &bindings.Type{Name: "test.lease", Capabilities: bindings.Capabilities{Ordering: true, Lease: true, DelayedNack: true}}
	policy := bindings.DefaultDeliveryPolicy()
	policy.Ordered, policy.MaxConcurrency, policy.LeaseExtension = ordered, 1, lease
	d := startDispatcher(in, typ, policy, func(ctx context.Context, m *bindings.Message) (Result, error) {
		if m.ID == "m1" {
			time.Sleep(2 * time.Minute)
		}
		return Result{}, nil
	})
	defer d.stop(context.Background())

	start := time.Now()
	ids := []string{"m1", "m2", "m3"}
	held := map[string]time.Time{}
	for _, id := range ids {
		in.msgs <- &bindings.Message{ID: id, Key: "k", DeliveryCount: 1}
		held[id] = start.Add(2 * lease) // the lease the runtime can count on at first
	}
	extended := map[string]int{}
	for acked := 0; acked < len(ids); {
		ev := <-in.events
		if ev.at.After(held[ev.id]) {
			t.Fatalf("%s of %s at +%s: its lease ran out at +%s", ev.op, ev.id, ev.at.Sub(start), held[ev.id].Sub(start))
		}
		switch ev.op {
		case "extend":
			held[ev.id] = ev.at.Add(ev.delay)
			extended[ev.id]++
		case "ack":
			held[ev.id] = time.Time{} // nothing may follow
			acked++
		default:
			t.Fatalf("unexpected %+v", ev)
		}
	}
	if extended["m2"] == 0 || extended["m3"] == 0 {
		t.Errorf("extensions %v: the waiting messages were not extended", extended)
	}
}

// TestHeldRetriesBoundIntake: on a broker without delayed nacks the runtime
// holds a failed message, unsettled, for its retry delay. A broker that does
// not bound what a consumer holds (Redis streams) would otherwise go on
// delivering while failures pile up in memory: once 4 × (maxConcurrency +
// batchSize) are held, intake waits until one is redelivered.
func TestHeldRetriesBoundIntake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := newFakeInput()
		typ := &bindings.Type{Name: "test.nodelay"}
		policy := bindings.DefaultDeliveryPolicy()
		policy.MaxConcurrency, policy.BatchSize, policy.InitialInterval, policy.Jitter = 1, 1, time.Hour, 0
		limit := 4 * (policy.MaxConcurrency + policy.BatchSize)
		d := startDispatcher(in, typ, policy, func(ctx context.Context, _ *bindings.Message) (Result, error) {
			if functions.FromContext(ctx).Attempt == 1 {
				return Result{}, errors.New("not yet")
			}
			return Result{}, nil
		})
		defer d.stop(context.Background())

		offer := func(id string) bool {
			synctest.Wait() // the runtime has done what it can
			select {
			case in.msgs <- &bindings.Message{ID: id, DeliveryCount: 1}:
				return true
			default:
				return false
			}
		}
		// The receive under way when the limit is reached still completes.
		accepted := 0
		for accepted <= limit+policy.BatchSize && offer(fmt.Sprint("m", accepted)) {
			accepted++
		}
		if accepted < limit || accepted > limit+policy.BatchSize {
			t.Fatalf("intake stopped after %d messages, all failed and held; want %d to %d", accepted, limit, limit+policy.BatchSize)
		}
		time.Sleep(time.Hour) // the retries are due, and succeed
		if !offer("after") {
			t.Fatal("intake did not resume once the held messages were redelivered")
		}
		acked := 0
		for acked < accepted+1 {
			if ev := <-in.events; ev.op == "ack" {
				acked++
			}
		}
	})
}

// hungLeaseInput is a fakeInput whose lease extensions hang until their
// context ends, as a call to a broker that stopped answering does.
type hungLeaseInput struct{ *fakeInput }

func (h hungLeaseInput) ExtendLeases(ctx context.Context, msgs []*bindings.Message, _ time.Duration) error {
	<-ctx.Done()
	for _, m := range msgs {
		h.events <- fakeEvent{op: "extend-failed", id: m.ID, at: time.Now()}
	}
	return ctx.Err()
}

// TestHungLeaseExtensionHoldsNothing: an extension of a waiting message's
// lease that never returns must hold up neither the worker that takes the
// message next, nor intake, nor shutdown.
func TestHungLeaseExtensionHoldsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := hungLeaseInput{newFakeInput()}
		typ := &bindings.Type{Name: "test.lease", Capabilities: bindings.Capabilities{Lease: true, DelayedNack: true}}
		policy := bindings.DefaultDeliveryPolicy()
		policy.MaxConcurrency, policy.LeaseExtension, policy.HandlerTimeout = 1, 10*time.Second, 0
		d := startDispatcher(in, typ, policy, func(ctx context.Context, m *bindings.Message) (Result, error) {
			if m.ID == "m1" {
				time.Sleep(time.Minute)
			}
			return Result{}, nil
		})
		for _, id := range []string{"m1", "m2", "m3"} {
			in.msgs <- &bindings.Message{ID: id, DeliveryCount: 1}
		}
		acked := map[string]bool{}
		for len(acked) < 3 {
			if ev := <-in.events; ev.op == "ack" {
				acked[ev.id] = true
			}
		}
		d.stop(context.Background()) // synctest reports a deadlock if it hangs
	})
}

// startDispatcher starts a dispatcher of function "fn" on input "in", its
// handler behind the runtime's whole middleware chain.
func startDispatcher(in bindings.Input, typ *bindings.Type, policy bindings.DeliveryPolicy, h Handler) *dispatcher {
	d := newDispatcher("fn", "in", typ, in, policy, Chain(h, ChainOptions{Function: "fn", Binding: "in", Policy: policy}), nil, context.Background(), discardLogger)
	d.start()
	return d
}

// slowLeaseBroker is an input whose broker has leases and answers lease
// extensions slowly: each call takes a whole half interval (its context's
// bound) to answer, whatever the number of messages. It counts the
// messages whose lease ran out before their extension or their ack landed:
// the broker would have handed those to another consumer.
type slowLeaseBroker struct {
	interval time.Duration
	mu       sync.Mutex
	waiting  []*bindings.Message
	deadline map[string]time.Time
	lost     map[string]bool
	acked    int
	calls    int
}

func (b *slowLeaseBroker) Receive(ctx context.Context, limit int) ([]*bindings.Message, error) {
	b.mu.Lock()
	n := min(limit, len(b.waiting))
	got := b.waiting[:n:n]
	b.waiting = b.waiting[n:]
	for _, m := range got {
		b.deadline[m.ID] = time.Now().Add(3 * b.interval) // the broker's own lease
	}
	b.mu.Unlock()
	if n == 0 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return got, nil
}

// landed records that an operation on m reached the broker now.
func (b *slowLeaseBroker) landed(m *bindings.Message) {
	if time.Now().After(b.deadline[m.ID]) {
		b.lost[m.ID] = true
	}
}

func (b *slowLeaseBroker) ExtendLeases(ctx context.Context, msgs []*bindings.Message, d time.Duration) error {
	b.mu.Lock()
	b.calls++
	for _, m := range msgs {
		b.landed(m)
		b.deadline[m.ID] = time.Now().Add(d)
	}
	b.mu.Unlock()
	select { // the answer takes a half interval to come back
	case <-time.After(b.interval / 2):
	case <-ctx.Done():
	}
	return nil
}

func (b *slowLeaseBroker) Ack(_ context.Context, m *bindings.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.landed(m)
	b.acked++
	return nil
}

func (b *slowLeaseBroker) Nack(_ context.Context, m *bindings.Message, _ time.Duration) error {
	return fmt.Errorf("unexpected nack of %s", m.ID)
}

func (b *slowLeaseBroker) Close() error { return nil }

// TestThousandLeasesOnASlowBroker: 1,000 messages received at once wait
// for 16 workers, each handler taking three lease intervals, on a broker
// whose every extension call takes a whole half interval. Extended one
// message per call, the later ones would wait hundreds of intervals for
// their turn and lose their lease; extended in one batch per sweep, none
// does.
func TestThousandLeasesOnASlowBroker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, interval = 1000, 10 * time.Second
		b := &slowLeaseBroker{interval: interval, deadline: map[string]time.Time{}, lost: map[string]bool{}}
		for i := range n {
			b.waiting = append(b.waiting, &bindings.Message{ID: fmt.Sprint("m", i), DeliveryCount: 1})
		}
		typ := &bindings.Type{Name: "test.lease", Capabilities: bindings.Capabilities{Lease: true, DelayedNack: true, BatchReceive: true}}
		policy := bindings.DefaultDeliveryPolicy()
		policy.MaxConcurrency, policy.BatchSize, policy.LeaseExtension, policy.HandlerTimeout = 16, n, interval, 0
		start := time.Now()
		d := startDispatcher(b, typ, policy, func(context.Context, *bindings.Message) (Result, error) {
			time.Sleep(3 * interval)
			return Result{}, nil
		})
		for {
			time.Sleep(interval)
			b.mu.Lock()
			acked := b.acked
			b.mu.Unlock()
			if acked == n {
				break
			}
		}
		if err := d.stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(b.lost) > 0 {
			t.Fatalf("%d of %d messages lost their lease (%d extension calls)", len(b.lost), n, b.calls)
		}
		// A sweep every half interval, one call each.
		if sweeps := int(time.Since(start)/(interval/2)) + 1; b.calls > sweeps {
			t.Errorf("%d extension calls in %s: more than one per sweep", b.calls, time.Since(start))
		}
	})
}
