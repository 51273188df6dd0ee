package trigger_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/trigger"
)

// rateLimit is a per-function rate limiter: at most n calls of the handler
// per period. Over the rate it does not wait (that would hold a worker and
// count against handlerTimeout): it snoozes the message until the period
// ends, which spends no attempt.
func rateLimit(n int, period time.Duration) trigger.Middleware {
	var mu sync.Mutex
	var start time.Time
	var calls int
	return func(next trigger.Handler) trigger.Handler {
		return func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			mu.Lock()
			now := time.Now()
			if now.Sub(start) >= period {
				start, calls = now, 0
			}
			calls++
			over, wait := calls > n, period-now.Sub(start)
			mu.Unlock()
			if over {
				return trigger.Result{}, functions.RetryAfter(wait, fmt.Errorf("rate limit of %d per %s", n, period))
			}
			return next(ctx, m)
		}
	}
}

// A function's own middleware goes in Function.Middleware; the runtime runs
// it inside its delivery chain (after the timeout and panic recovery, so its
// errors are retried and dead-lettered like the handler's). Here a rate
// limiter lets the handler charge at most two orders a minute; the third
// order is snoozed, not failed: it comes back after the rest of the minute
// with the same attempt number.
func ExampleFunction_middleware() {
	fn := trigger.Function{
		Name: "charge", Trigger: "orders",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			return trigger.Result{}, nil // call the payments API
		},
		Middleware: []trigger.Middleware{rateLimit(2, time.Minute)},
	}

	// What the runtime does with each of three orders received at once
	// (trigger.Chain is the runtime's chain; fntest runs it too).
	h := trigger.Chain(fn.Handler, trigger.ChainOptions{
		Function: fn.Name, Binding: fn.Trigger, Policy: bindings.DefaultDeliveryPolicy(), Middleware: fn.Middleware,
	})
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		m := &bindings.Message{ID: id, DeliveryCount: 1}
		_, err := h(context.Background(), m)
		d := trigger.Decide(err)
		fmt.Println(id, d.Action, "snoozed:", d.Snoozed)
	}
	// Output:
	// o-1 acked snoozed: false
	// o-2 acked snoozed: false
	// o-3 retry snoozed: true
}
