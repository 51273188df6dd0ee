package trigger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// Timeout bounds one handler call to d (0: no bound). Past d the call's
// context is cancelled; if the handler then returns an error, the attempt
// fails with ErrHandlerTimeout. A handler that finishes with nil after the
// deadline did its work and succeeds. A handler that ignores its context
// keeps its worker until it returns: Go cannot stop a goroutine from outside.
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		if d <= 0 {
			return next
		}
		return func(ctx context.Context, m *bindings.Message) (Result, error) {
			return callTimed(ctx, m, d, next)
		}
	}
}

// callTimed is Timeout(d)(next)(ctx, m), for d > 0.
func callTimed(ctx context.Context, m *bindings.Message, d time.Duration, next Handler) (Result, error) {
	var err error
	var res Result
	var timedOut bool
	if hc := handlerContextOf(ctx); hc != nil && hc.clock != nil {
		// The runtime's own context (or one derived from it): the
		// trigger's watchdog enforces the deadline, with no context or
		// timer to allocate, and records its expiry where no wrapping of
		// ctx can hide or fake it.
		res, err = callArmed(hc, d, ctx, m, next)
		timedOut = err != nil && hc.expired()
	} else {
		tctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		res, err = next(tctx, m)
		timedOut = err != nil && errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	}
	if timedOut {
		return res, fmt.Errorf("%w after %s: %w", ErrHandlerTimeout, d, err)
	}
	return res, err
}

// callArmed calls next with hc's deadline armed, and disarms it however
// next ends: a panic too, which Recover, outside, turns into the attempt's
// error. Left armed, the deadline went on running while the rest of the
// attempt (a dead letter's send) did, and the watchdog then expired the
// context and reported the worker stuck.
func callArmed(hc *handlerContext, d time.Duration, ctx context.Context, m *bindings.Message, next Handler) (Result, error) {
	hc.arm(d)
	defer hc.disarm()
	return next(ctx, m)
}
