package trigger

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"github.com/tetherfn/tether/bindings"
)

// TestStopReportsHandlersLeftRunning: a handler that ignores the
// cancellation at the end of the grace period is left behind after the
// cancel wait, and stop says so: a library caller must know that a
// goroutine of its still runs.
func TestStopReportsHandlersLeftRunning(t *testing.T) {
	for _, ignores := range []bool{false, true} {
		t.Run(map[bool]string{false: "handler returns", true: "handler ignores its context"}[ignores], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				in := newFakeInput()
				typ := &bindings.Type{Name: "test.stop", Capabilities: bindings.Capabilities{DelayedNack: true}}
				policy := bindings.DefaultDeliveryPolicy()
				policy.MaxConcurrency, policy.HandlerTimeout = 1, 0
				release := make(chan struct{})
				d := startDispatcher(in, typ, policy, func(ctx context.Context, _ *bindings.Message) (Result, error) {
					if ignores {
						<-release
						return Result{}, nil
					}
					<-ctx.Done()
					return Result{}, ctx.Err()
				})
				d.cancelWait = time.Minute
				in.msgs <- &bindings.Message{ID: "m1", DeliveryCount: 1}
				synctest.Wait() // m1's handler runs
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				start := time.Now()
				err := d.stop(ctx)
				if !ignores {
					if err != nil || time.Since(start) != 10*time.Second {
						t.Fatalf("stop = %v after %s; want nil at the end of the grace period", err, time.Since(start))
					}
					if ev := <-in.events; ev.op != "nack" {
						t.Fatalf("%s of the cancelled attempt, want a nack", ev.op)
					}
					return
				}
				if !errors.Is(err, ErrHandlersRunning) || time.Since(start) != 10*time.Second+time.Minute {
					t.Fatalf("stop = %v after %s; want ErrHandlersRunning after the grace and the cancel wait", err, time.Since(start))
				}
				close(release)
				if ev := <-in.events; ev.op != "ack" {
					t.Fatalf("%s of the late success, want an ack", ev.op)
				}
			})
		})
	}
}

// lockCheckInput is a fakeInput whose Nack looks at the dispatcher's held
// retries, as a broker call that takes long would: if the dispatcher nacked
// while holding their lock, this would deadlock.
type lockCheckInput struct {
	*fakeInput
	d **dispatcher
}

func (l lockCheckInput) Nack(ctx context.Context, m *bindings.Message, delay time.Duration) error {
	_ = (*l.d).held.len()
	return l.fakeInput.Nack(ctx, m, delay)
}

// TestStopNacksHeldRetriesOutsideTheLock: stop gives the held retries back
// to the broker without holding the held-retries lock (no broker I/O under
// a lock).
func TestStopNacksHeldRetriesOutsideTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var d *dispatcher
		in := lockCheckInput{newFakeInput(), &d}
		typ := &bindings.Type{Name: "test.nodelay"}
		policy := bindings.DefaultDeliveryPolicy()
		policy.MaxConcurrency, policy.InitialInterval, policy.Jitter = 1, time.Hour, 0
		d = newDispatcher("fn", "in", typ, in, policy, Chain(func(context.Context, *bindings.Message) (Result, error) {
			return Result{}, errors.New("not yet")
		}, ChainOptions{Function: "fn", Binding: "in", Policy: policy}), nil, context.Background(), discardLogger)
		d.start()
		for _, id := range []string{"m1", "m2", "m3"} {
			in.msgs <- &bindings.Message{ID: id, DeliveryCount: 1}
		}
		synctest.Wait()
		if n := d.held.len(); n != 3 {
			t.Fatalf("%d held, want 3", n)
		}
		if err := d.stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if ev := <-in.events; ev.op != "nack" || ev.delay != 0 {
				t.Fatalf("%+v; want the held messages nacked at once", ev)
			}
		}
	})
}

// directFake is a fakeInput that hands its messages over itself
// (bindings.Direct), answering each (bindings.Replier).
type directFake struct {
	*fakeInput
	handle bindings.DirectHandler
}

func (f *directFake) SetDirect(h bindings.DirectHandler)      { f.handle = h }
func (f *directFake) Reply(*bindings.Message, bindings.Reply) {}

// TestHandledMessagesNotKept: once a worker is idle, nothing of the
// runtime's keeps the messages it handled reachable (their payloads can be
// megabytes: a webhook's body, a broker's record), as the inbox, which
// clears its slots, does not: neither through a worker's handler contexts
// (taken from a slab, which holds the contexts of its earlier attempts)
// nor through those of the direct path's workers.
func TestHandledMessagesNotKept(t *testing.T) {
	policy := bindings.DefaultDeliveryPolicy()
	policy.MaxConcurrency = 1
	handler := func(context.Context, *bindings.Message) (Result, error) { return Result{}, nil }
	// collected waits until what wp points to is unreachable.
	collected := func(t *testing.T, wp weak.Pointer[bindings.Message]) {
		t.Helper()
		for range 1000 {
			runtime.GC()
			if wp.Value() == nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("a handled, acked message is still reachable")
	}
	t.Run("worker", func(t *testing.T) {
		in := newFakeInput()
		d := startDispatcher(in, &bindings.Type{Name: "fake"}, policy, handler)
		defer stopNow(t, d)
		wp := func() weak.Pointer[bindings.Message] {
			m := &bindings.Message{ID: "big", Data: make([]byte, 1<<20)}
			in.msgs <- m
			return weak.Make(m)
		}()
		if ev := <-in.events; ev.op != "ack" {
			t.Fatalf("%s, want ack", ev.op)
		}
		collected(t, wp)
	})
	t.Run("direct", func(t *testing.T) {
		in := &directFake{fakeInput: newFakeInput()}
		typ := &bindings.Type{Name: "fake", Capabilities: bindings.Capabilities{DelayedNack: true}}
		d := startDispatcher(in, typ, policy, handler)
		defer stopNow(t, d)
		if in.handle == nil {
			t.Fatal("the dispatcher did not take the direct path")
		}
		wp := func() weak.Pointer[bindings.Message] {
			m := &bindings.Message{ID: "big", Data: make([]byte, 1<<20)}
			if err := in.handle(context.Background(), m, time.Second); err != nil {
				t.Fatal(err)
			}
			return weak.Make(m)
		}()
		if ev := <-in.events; ev.op != "ack" {
			t.Fatalf("%s, want ack", ev.op)
		}
		collected(t, wp)
	})
}

// TestSlabStartsSmallAfterIdle: a worker that idles between messages (a
// trigger waiting on its broker) must not allocate a whole slab of
// contexts per message; after idle its slabs start at one context and
// double up to contextSlab while it stays busy.
func TestSlabStartsSmallAfterIdle(t *testing.T) {
	w := &worker{d: &dispatcher{base: context.Background(), typ: &bindings.Type{Name: "fake"}}}
	m := &bindings.Message{ID: "m"}
	var sizes []int
	for range 1 + 2 + 4 + 8 + 16 + 16 {
		if len(w.slab) == 0 {
			w.newContext(m, 1)
			sizes = append(sizes, len(w.slab)+1)
			continue
		}
		w.newContext(m, 1)
	}
	if want := []int{1, 2, 4, 8, 16, 16}; !slices.Equal(sizes, want) {
		t.Errorf("slab sizes from a fresh worker %v, want %v", sizes, want)
	}
	w.idle()
	if w.slab != nil {
		t.Error("idle kept the slab")
	}
	w.newContext(m, 1)
	if len(w.slab) != 0 {
		t.Errorf("first slab after idle has %d contexts left, want a slab of one", len(w.slab))
	}
}
