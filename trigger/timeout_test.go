package trigger

import (
	"context"
	"errors"
	"testing"
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
	// The runtime's own context uses the worker's reusable timer.
	w := &worker{}
	w.timer = time.AfterFunc(time.Hour, w.expire)
	w.timer.Stop()
	hc := &handlerContext{parent: context.Background(), timer: w.timer}
	w.current.Store(hc)
	_, err := Timeout(10*time.Millisecond)(blockUntilDone)(hc, &bindings.Message{})
	if !errors.Is(err, ErrHandlerTimeout) {
		t.Fatalf("err = %v, want ErrHandlerTimeout", err)
	}
	if dl, ok := hc.Deadline(); !ok || dl.IsZero() {
		t.Errorf("Deadline() = %v, %v; want the armed deadline", dl, ok)
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
