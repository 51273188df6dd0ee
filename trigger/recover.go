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
					stack := debug.Stack()
					functions.Logger(ctx).Error("handler panicked", "panic", v, "stack", string(stack))
					res, err = Result{}, &PanicError{Value: v, Stack: stack}
				}
			}()
			return next(ctx, m)
		}
	}
}
