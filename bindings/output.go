package bindings

import (
	"context"
	"fmt"
	"strings"

	"github.com/tetherfn/tether/internal/redact"
)

// Operation names an output operation, as in Dapr's bindings API.
type Operation string

// The operations used across bindings. A driver lists the ones it supports in
// its Type; it may add its own (HTTP verbs, "increment", "publish"...).
const (
	OpCreate Operation = "create"
	OpGet    Operation = "get"
	OpDelete Operation = "delete"
	OpList   Operation = "list"
	OpExec   Operation = "exec"
	OpQuery  Operation = "query"
)

// InvokeRequest is one call to an output binding.
type InvokeRequest struct {
	Operation   Operation
	Data        []byte
	ContentType string
	Metadata    map[string]string
}

// InvokeResponse is an output binding's answer. A nil *InvokeResponse means no
// data and no metadata.
type InvokeResponse struct {
	Data        []byte
	ContentType string
	Metadata    map[string]string
}

// Output is the contract of an output driver. Invoke may be called from several
// goroutines at once. A driver returns ErrUnsupportedOperation (wrapped or not)
// for an operation its Type does not list.
type Output interface {
	Invoke(ctx context.Context, req *InvokeRequest) (*InvokeResponse, error)
	Close() error
}

// checkedOutput is what OpenOutput returns: it refuses operations the type does
// not declare before the driver sees them, and wraps driver errors once with
// the binding's name, their messages redacted.
type checkedOutput struct {
	name   string
	typ    *Type
	out    Output
	redact *redact.Redactor
}

func (c *checkedOutput) Invoke(ctx context.Context, req *InvokeRequest) (*InvokeResponse, error) {
	if !c.typ.Supports(req.Operation) {
		return nil, &Error{Binding: c.name, Type: c.typ.Name, Op: "invoke " + string(req.Operation),
			Err: fmt.Errorf("%w %q (supported: %s)", ErrUnsupportedOperation, req.Operation, joinOps(c.typ.Operations))}
	}
	resp, err := c.out.Invoke(ctx, req)
	if err != nil {
		return nil, wrap(c.name, c.typ.Name, "invoke "+string(req.Operation), c.redact.Error(err))
	}
	return resp, nil
}

func (c *checkedOutput) Close() error {
	return wrap(c.name, c.typ.Name, "close", c.redact.Error(c.out.Close()))
}

// Unwrap returns the driver's own Output, for typed clients that need the
// driver's concrete type.
func (c *checkedOutput) Unwrap() Output { return c.out }

// Driver returns the driver's own value behind an output opened with
// OpenOutput (or o itself), so that a typed client can reach driver-specific
// methods with a type assertion.
func Driver(o Output) Output {
	for {
		u, ok := o.(interface{ Unwrap() Output })
		if !ok {
			return o
		}
		o = u.Unwrap()
	}
}

func joinOps(ops []Operation) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}
