package trigger

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherfn/tether/bindings"
)

func blockUntilDone(ctx context.Context, _ *bindings.Message) (Result, error) {
	<-ctx.Done()
	return Result{}, ctx.Err()
}

func TestTimeoutFailsSlowHandler(t *testing.T) {
	_, err := Timeout(10*time.Millisecond)(blockUntilDone)(context.Background(), &bindings.Message{})
	if !errors.Is(err, ErrHandlerTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrHandlerTimeout wrapping DeadlineExceeded", err)
	}
}

func TestTimeoutOnWorkerContext(t *testing.T) {
	// The runtime's own context: the trigger's watchdog enforces it.
	hc := watchedContext(t, 10*time.Millisecond)
	start := time.Now()
	_, err := Timeout(10*time.Millisecond)(blockUntilDone)(hc, &bindings.Message{})
	if !errors.Is(err, ErrHandlerTimeout) {
		t.Fatalf("err = %v, want ErrHandlerTimeout", err)
	}
	if elapsed := time.Since(start); elapsed < 10*time.Millisecond {
		t.Errorf("cancelled after %s, before the 10ms timeout", elapsed)
	}
}

func TestTimeoutKeepsSuccessAndZeroMeansNone(t *testing.T) {
	// Finishing in time succeeds; d == 0 installs nothing.
	if _, err := Timeout(time.Hour)(succeed)(context.Background(), &bindings.Message{}); err != nil {
		t.Fatal(err)
	}
	h := Timeout(0)(func(ctx context.Context, _ *bindings.Message) (Result, error) {
		if _, ok := ctx.Deadline(); ok {
			return Result{}, errors.New("deadline set with timeout 0")
		}
		return Result{}, nil
	})
	if _, err := h(context.Background(), &bindings.Message{}); err != nil {
		t.Fatal(err)
	}
	// A plain error before the deadline is not a timeout.
	if _, err := Timeout(time.Hour)(failWith(errBoom))(context.Background(), &bindings.Message{}); errors.Is(err, ErrHandlerTimeout) {
		t.Fatalf("err = %v, not a timeout", err)
	}
}

// watchedContext returns a handler context as a worker of a trigger with
// handlerTimeout timeout holds it: its watchdog runs until the test ends.
func watchedContext(t testing.TB, timeout time.Duration) *handlerContext {
	wd := newWatchdog(timeout, nil)
	w := &worker{}
	wd.workers = []*worker{w}
	go wd.run()
	t.Cleanup(wd.close)
	hc := &handlerContext{parent: context.Background(), clock: wd}
	w.current.Store(hc)
	return hc
}

// TestTimeoutDisarmedAfterPanic: a handler that panics leaves no deadline
// running on its context, so what the attempt does next (a dead letter's
// send, as slow as it may be) neither ends the context nor counts the
// worker stuck.
func TestTimeoutDisarmedAfterPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 80 * time.Millisecond
		hc := watchedContext(t, timeout)
		panics := func(context.Context, *bindings.Message) (Result, error) { panic("boom") }
		_, err := Recover()(Timeout(timeout)(panics))(hc, &bindings.Message{ID: "m"})
		var p *PanicError
		if !errors.As(err, &p) {
			t.Fatalf("err = %v, want a PanicError", err)
		}
		time.Sleep(10 * timeout) // the rest of the attempt, long past the deadline and its grace
		synctest.Wait()
		if err := hc.Err(); err != nil {
			t.Errorf("ctx.Err() = %v after the panic; want nil: the deadline was left armed", err)
		}
		if stuck := hc.clock.stuck.Load(); stuck != 0 {
			t.Errorf("%d workers counted stuck after the panic, want 0", stuck)
		}
	})
}
