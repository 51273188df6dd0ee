package trigger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// Retry decides what happens after a failed attempt: another attempt after a
// backoff delay (exponential, with jitter, or the handler's RetryAfter), or,
// once policy.MaxAttempts is reached or the error is permanent, nothing more
// (the error passes on to DeadLetter). Retry never waits itself: the
// dispatcher redelivers the message later, so a failing message does not hold
// up the others.
func Retry(policy bindings.Delivery) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *bindings.Message) (Result, error) {
			res, err := next(ctx, m)
			if err != nil && !errors.Is(err, errShutdown) && cancelledByShutdown(ctx) {
				// Whatever the handler made of the cancellation, the
				// attempt did not fail: it was cut short.
				err = fmt.Errorf("%w: %w", errShutdown, err)
			}
			if err == nil || functions.IsPermanent(err) || errors.Is(err, errShutdown) {
				return res, err
			}
			attempt := 1
			if d := functions.FromContext(ctx); d != nil {
				attempt = d.Attempt
			}
			if attempt >= policy.MaxAttempts {
				return res, err
			}
			delay, asked := functions.RetryDelay(err)
			if !asked {
				delay = jitter(policy.Backoff(attempt), policy.Jitter)
			}
			return res, &retryError{delay: delay, err: err}
		}
	}
}

// cancelledByShutdown reports whether ctx is the runtime's handler context
// and the end of the shutdown grace period cancelled it.
func cancelledByShutdown(ctx context.Context) bool {
	hc, ok := ctx.(*handlerContext)
	return ok && hc.cancelledBy(errShutdown)
}

// jitter spreads d uniformly over d·(1±f), so that messages that failed
// together do not all come back at the same instant.
func jitter(d time.Duration, f float64) time.Duration {
	if f <= 0 || d <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 - f + 2*f*rand.Float64()))
}
