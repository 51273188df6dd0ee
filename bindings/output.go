package bindings

import "context"

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
