package functions

import (
	"errors"
	"fmt"
	"time"
)

// Permanent marks err as not worth retrying: the runtime sends the message
// straight to the trigger's dead-letter binding. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err, or an error it wraps, came from Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// RetryAfter snoozes the message: it comes back after d instead of the
// trigger's backoff (a rate limit's Retry-After, a resource not ready yet).
// A snooze is no failed attempt, as River's: it does not count toward
// maxAttempts, and the next call sees the same Delivery.Attempt, however
// often it snoozes (so a handler that always snoozes keeps its message for
// ever; bound it yourself if that can happen). The runtime holds the
// message itself meanwhile, unsettled, so the broker counts no delivery
// either; only a shutdown during the snooze gives it back to the broker,
// which then counts one. A nil err becomes a generic "retry requested".
func RetryAfter(d time.Duration, err error) error {
	if err == nil {
		err = errors.New("retry requested")
	}
	return &retryAfterError{delay: d, err: err}
}

type retryAfterError struct {
	delay time.Duration
	err   error
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.delay, e.err)
}
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryDelay returns the delay asked for with RetryAfter, if any.
func RetryDelay(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.delay, true
	}
	return 0, false
}
