package trigger

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

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
