package trigger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/trigger"
)

// TestAttemptContextEndsWithTheAttempt: as with an HTTP request's context,
// or context.WithTimeout and its deferred cancel, the handler's context is
// cancelled once the attempt is over, so that what the handler hung on it
// (context.AfterFunc, goroutines waiting on Done, derived contexts) is
// released instead of waiting forever.
func TestAttemptContextEndsWithTheAttempt(t *testing.T) {
	for _, timeout := range []string{"0", "1h"} {
		t.Run("handlerTimeout="+timeout, func(t *testing.T) {
			q := unique(t, "q")
			set := loadComponents(t, memoryComponent("in", q, map[string]string{"handlerTimeout": timeout}))
			released := make(chan struct{})
			startRuntime(t, set, trigger.Function{Name: "fn", Trigger: "in",
				Handler: func(ctx context.Context, _ *bindings.Message) (trigger.Result, error) {
					context.AfterFunc(ctx, func() { close(released) })
					return trigger.Result{}, nil
				}})
			publish(q, "m")
			select {
			case <-released:
			case <-time.After(10 * time.Second):
				t.Fatal("the handler's context was never cancelled after the attempt")
			}
		})
	}
}

// TestKeptContextsStayTheirOwn: workers allocate handler contexts in slabs,
// and a handler may keep its context past its return (a goroutine, a
// closure). A kept context must go on answering for its own message, ended,
// however many attempts come after it: no slot is ever used twice.
func TestKeptContextsStayTheirOwn(t *testing.T) {
	const n = 100 // several slabs' worth, on one worker
	q := unique(t, "q")
	set := loadComponents(t, memoryComponent("in", q, map[string]string{"maxConcurrency": "1"}))
	kept := make(chan context.Context, n)
	startRuntime(t, set, trigger.Function{Name: "fn", Trigger: "in",
		Handler: func(ctx context.Context, _ *bindings.Message) (trigger.Result, error) {
			kept <- ctx
			return trigger.Result{}, nil
		}})
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%03d", i)
	}
	publish(q, ids...)
	seen := map[string]bool{}
	var ctxs []context.Context
	for range n {
		select {
		case ctx := <-kept:
			ctxs = append(ctxs, ctx)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d messages handled", len(ctxs), n)
		}
	}
	for _, ctx := range ctxs {
		d := functions.FromContext(ctx)
		id := string(d.Message.Data)
		if seen[id] {
			t.Errorf("two kept contexts answer for message %s", id)
		}
		seen[id] = true
		<-ctx.Done() // ended with its attempt, and stays ended
		if ctx.Err() != context.Canceled {
			t.Errorf("message %s: kept context's Err = %v, want context.Canceled", id, ctx.Err())
		}
	}
}
