package trigger

import (
	"context"
	"runtime/debug"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// Recover turns a handler panic into a failed attempt (*PanicError), logged
// with its stack, so one bad message cannot take the process down.
func Recover() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *bindings.Message) (res Result, err error) {
			defer func() {
				if v := recover(); v != nil {
					res, err = Result{}, panicked(ctx, v)
				}
			}()
			return next(ctx, m)
		}
	}
}

// panicked logs v, a handler's panic, with its stack (it is called from
// the deferred function of the panicking goroutine, so the stack still
// holds the panic's frames) and returns it as Recover's error.
func panicked(ctx context.Context, v any) error {
	stack := debug.Stack()
	functions.Logger(ctx).Error("handler panicked", "panic", v, "stack", string(stack))
	return &PanicError{Value: v, Stack: stack}
}
