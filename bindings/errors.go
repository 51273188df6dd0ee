package bindings

import (
	"errors"
	"fmt"
)

// Errors a driver returns (wrapped or not) so that callers can tell cases apart
// with errors.Is.
var (
	// ErrClosed: the binding was closed.
	ErrClosed = errors.New("binding closed")
	// ErrUnsupportedOperation: the output does not have the operation.
	ErrUnsupportedOperation = errors.New("unsupported operation")
	// ErrNotFound: a get or delete named something that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrBusy: a DirectHandler found none of the trigger's handlers free
	// in time.
	ErrBusy = errors.New("no handler free in time")
)

// Error is a driver error wrapped once with the binding it came from. The
// driver's own error stays reachable with errors.As and errors.Is.
type Error struct {
	Binding string // component name
	Type    string // binding type, e.g. "bindings.kafka"
	Op      string // what was being done: "open", "receive", "ack", "invoke create"...
	Err     error
}

func (e *Error) Error() string {
	return fmt.Sprintf("binding %q (%s): %s: %v", e.Binding, e.Type, e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// wrap returns err wrapped in an *Error, unless it already is one: drivers'
// errors are wrapped exactly once.
func wrap(name, typ, op string, err error) error {
	if err == nil {
		return nil
	}
	var be *Error
	if errors.As(err, &be) {
		return err
	}
	return &Error{Binding: name, Type: typ, Op: op, Err: err}
}
