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
// backoff delay (exponential, with jitter), or, once policy.MaxAttempts is
// reached or the error is permanent, nothing more (the error passes on to
// DeadLetter). An error from functions.RetryAfter is a snooze: the message
// comes back after the delay asked for, and the attempt does not count
// toward MaxAttempts (the runtime holds the message itself, so the broker
// counts no delivery either). Retry never waits itself: the dispatcher
// redelivers the message later, so a failing message does not hold up the
// others.
//
// The attempt number is the message's DeliveryCount, and the shutdown
// cancellation is read from the runtime's own record: neither depends on
// the ctx a middleware passes on, so wrapping it changes nothing here.
func Retry(policy bindings.DeliveryPolicy) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *bindings.Message) (Result, error) {
			res, err := next(ctx, m)
			if err == nil {
				return res, nil
			}
			return res, retried(policy, ctx, m, err)
		}
	}
}

// retried is Retry's decision on err, m's failed attempt: err as it
// passes on.
func retried(policy bindings.DeliveryPolicy, ctx context.Context, m *bindings.Message, err error) error {
	if !errors.Is(err, errShutdown) && cancelledByShutdown(ctx) {
		// Whatever the handler made of the cancellation, the attempt did
		// not fail: it was cut short.
		err = fmt.Errorf("%w: %w", errShutdown, err)
	}
	if functions.IsPermanent(err) || errors.Is(err, errShutdown) {
		return err
	}
	if delay, asked := functions.RetryDelay(err); asked {
		return &retryError{delay: max(delay, 0), err: err, snooze: true}
	}
	attempt := attemptOf(m)
	if attempt >= policy.MaxAttempts {
		return err
	}
	return &retryError{delay: jitter(policy.Backoff(attempt), policy.Jitter), err: err}
}

// attemptOf is m's attempt number, as Delivery.Attempt says to the handler.
func attemptOf(m *bindings.Message) int { return max(m.DeliveryCount, 1) }

// cancelledByShutdown reports whether ctx is (or derives from) the runtime's
// handler context and the end of the shutdown grace period cancelled it.
func cancelledByShutdown(ctx context.Context) bool {
	hc := handlerContextOf(ctx)
	return hc != nil && hc.cancelledBy(errShutdown)
}

// jitter spreads d uniformly over d·(1±f), so that messages that failed
// together do not all come back at the same instant.
func jitter(d time.Duration, f float64) time.Duration {
	if f <= 0 || d <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 - f + 2*f*rand.Float64()))
}
