package trigger_test

import (
	"context"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
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
