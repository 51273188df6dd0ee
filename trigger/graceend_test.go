package trigger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

// graceEndRun starts a runtime whose one handler runs until its context is
// cancelled and then returns what after says, and shuts it down with the
// grace period already over, so that the runtime cancels the handler. It
// returns the lengths of the input and dead-letter queues once Shutdown
// returned, and the context errors the handler saw.
func graceEndRun(t *testing.T, after func(ctx context.Context) error) (inLen, deadLen int, seen ctxErrors) {
	t.Helper()
	in, dead := unique(t, "in"), unique(t, "dead")
	set := loadComponents(t,
		memoryComponent("in", in, map[string]string{"maxAttempts": "1", "deadLetter": "dead", "direction": "input"}),
		memoryComponent("dead", dead, map[string]string{"direction": "output"}),
	)
	started := make(chan struct{})
	seenc := make(chan ctxErrors, 1)
	rt, err := trigger.New(trigger.Options{Components: set, ShutdownGrace: time.Hour, Functions: []trigger.Function{{
		Name: "fn", Trigger: "in",
		Handler: func(ctx context.Context, _ *bindings.Message) (trigger.Result, error) {
			child, cancel := context.WithCancel(ctx)
			defer cancel()
			close(started)
			<-ctx.Done()
			<-child.Done()
			seenc <- ctxErrors{err: ctx.Err(), cause: context.Cause(ctx), child: child.Err()}
			return trigger.Result{}, after(ctx)
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	publish(in, "m1")
	<-started
	over, cancel := context.WithCancel(context.Background())
	cancel() // the grace period is over as soon as the drain starts
	if err := rt.Shutdown(over); err != nil {
		t.Fatal(err)
	}
	return memory.Len(in), memory.Len(dead), <-seenc
}

type ctxErrors struct{ err, cause, child error }

// TestGraceEndIsNotAFailure: an attempt cut short by the end of the shutdown
// grace period is given back to the broker. It is not a failure: even on its
// last attempt it must not be dead-lettered (the message would be both in the
// dead-letter queue and redelivered), whatever error the handler makes of the
// cancellation.
func TestGraceEndIsNotAFailure(t *testing.T) {
	inLen, deadLen, _ := graceEndRun(t, func(context.Context) error {
		// A client library's own error, which does not wrap ctx.Err().
		return errors.New("rpc error: code = Canceled desc = context canceled")
	})
	if deadLen != 0 {
		t.Errorf("the dead-letter queue holds %d messages; an attempt cancelled by shutdown is not a failure", deadLen)
	}
	if inLen != 1 {
		t.Errorf("the input queue holds %d messages, want the 1 given back", inLen)
	}
}

// TestGraceEndSuccessIsAcked: a handler that still finished its work after
// the grace period cancelled it succeeded; its message is acked, not handed
// back to be done twice.
func TestGraceEndSuccessIsAcked(t *testing.T) {
	inLen, deadLen, _ := graceEndRun(t, func(context.Context) error { return nil })
	if inLen != 0 || deadLen != 0 {
		t.Errorf("input queue %d, dead letters %d; want 0 and 0: the handler succeeded", inLen, deadLen)
	}
}

// TestGraceEndContextErr: the handler's context, cancelled at the end of the
// grace period, says so the way every context.Context does: Err is
// context.Canceled (the only errors Err may return are Canceled and
// DeadlineExceeded), in the handler's context and in contexts derived from it.
func TestGraceEndContextErr(t *testing.T) {
	_, _, seen := graceEndRun(t, func(ctx context.Context) error { return ctx.Err() })
	if seen.err != context.Canceled || seen.child != context.Canceled {
		t.Errorf("ctx.Err() = %v, derived ctx Err() = %v; want context.Canceled for both", seen.err, seen.child)
	}
	if !errors.Is(seen.cause, context.Canceled) {
		t.Errorf("context.Cause = %v, want (a cause wrapping) context.Canceled", seen.cause)
	}
}

// TestShutdownReportsHandlersLeftBehind: a handler that ignores the
// cancellation at the end of the grace period is left behind once
// ShutdownCancelWait has passed, and Shutdown says so (ErrHandlersRunning):
// a program that embeds the runtime learns that one of its goroutines
// still runs.
func TestShutdownReportsHandlersLeftBehind(t *testing.T) {
	in := unique(t, "in")
	set := loadComponents(t, memoryComponent("in", in, map[string]string{"direction": "input"}))
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	rt, err := trigger.New(trigger.Options{Components: set, ShutdownGrace: time.Hour, ShutdownCancelWait: time.Millisecond,
		Functions: []trigger.Function{{
			Name: "fn", Trigger: "in",
			Handler: func(ctx context.Context, _ *bindings.Message) (trigger.Result, error) {
				close(started)
				<-release // ignores ctx
				return trigger.Result{}, nil
			},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	publish(in, "m1")
	<-started
	over, cancel := context.WithCancel(context.Background())
	cancel() // the grace period is over as soon as the drain starts
	if err := rt.Shutdown(over); !errors.Is(err, trigger.ErrHandlersRunning) {
		t.Fatalf("Shutdown = %v, want ErrHandlersRunning", err)
	}
}
