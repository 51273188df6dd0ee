package trigger

import (
	"errors"
	"fmt"
	"time"
)

// The middleware chain tells the dispatcher how to settle a message through
// the error it returns: nil acks; these types say the rest.

// retryError: deliver the message again after delay. A snooze (the
// handler's functions.RetryAfter) is no failed attempt: the next one has
// the same attempt number.
type retryError struct {
	delay  time.Duration
	err    error
	snooze bool
}

func (e *retryError) Error() string { return fmt.Sprintf("retry in %s: %v", e.delay, e.err) }
func (e *retryError) Unwrap() error { return e.err }

// deadLetteredError: the message failed for good and is now in the
// dead-letter binding; the original is acked.
type deadLetteredError struct{ err error }

func (e *deadLetteredError) Error() string { return "dead-lettered: " + e.err.Error() }
func (e *deadLetteredError) Unwrap() error { return e.err }

// exhaustedError: the message failed for good and there is no dead-letter
// binding; the dispatcher uses the broker's native dead letter if it has one,
// or nacks the message for the broker to keep.
type exhaustedError struct {
	err   error
	delay time.Duration // before the broker redelivers a kept message
}

func (e *exhaustedError) Error() string { return "failed for good: " + e.err.Error() }
func (e *exhaustedError) Unwrap() error { return e.err }

// errShutdown is the cause of handler contexts cancelled when the shutdown
// grace period ends; such attempts are nacked without counting as failures.
var errShutdown = errors.New("shutting down: grace period over")

// ErrHandlerTimeout is wrapped in the error of an attempt that ran past the
// trigger's handlerTimeout.
var ErrHandlerTimeout = errors.New("handler timed out")

// PanicError is the error of an attempt whose handler panicked.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

func isRetry(err error) bool { _, ok := asRetry(err); return ok }

func asRetry(err error) (*retryError, bool) {
	var r *retryError
	ok := errors.As(err, &r)
	return r, ok
}
