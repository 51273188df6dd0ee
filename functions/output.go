package functions

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tetherfn/tether/bindings"
)

// OutputBinding is an opened output binding as the runtime hands it to a
// typed client.
//
// Deprecated: it moved to package bindings (bindings.OutputBinding), beside
// the drivers that implement it; handler code never needs it.
type OutputBinding = bindings.OutputBinding

// Binder is implemented by every type that may be a field of a function's
// Outputs struct.
//
// Deprecated: it moved to package bindings (bindings.Binder).
type Binder = bindings.Binder

// Output is a portable typed client for any output binding that supports
// "create": a queue, a topic, a table, an HTTP endpoint... Switching the
// binding behind it is a change of component YAML, not of code.
//
// Values are encoded as JSON, except []byte and string, which are sent as they
// are (application/octet-stream and text/plain; charset=utf-8).
type Output[T any] struct {
	b bindings.OutputBinding
}

// BindOutput implements bindings.Binder: any binding with operation create
// will do.
func (o *Output[T]) BindOutput(b bindings.OutputBinding) error {
	if err := b.Require("", bindings.OpCreate); err != nil {
		return err
	}
	o.b = b
	return nil
}

// Binding returns the component name the output is bound to.
func (o Output[T]) Binding() string { return o.b.Name }

// SendOption adjusts one Send call.
type SendOption func(*bindings.InvokeRequest)

// WithMetadata adds binding metadata to one call (headers, attributes,
// partition keys, TTLs... as the binding documents). Later keys win.
func WithMetadata(md map[string]string) SendOption {
	return func(r *bindings.InvokeRequest) {
		if r.Metadata == nil {
			r.Metadata = make(map[string]string, len(md))
		}
		for k, v := range md {
			r.Metadata[k] = v
		}
	}
}

// WithMetadataKey adds one metadata key to one call: the one-key form of
// WithMetadata.
func WithMetadataKey(key, value string) SendOption {
	return WithMetadata(map[string]string{key: value})
}

// Meta adds one metadata key to one call.
//
// Deprecated: use WithMetadataKey; Meta read as the message's metadata
// (now MessageMetadata) rather than a SendOption.
func Meta(key, value string) SendOption { return WithMetadataKey(key, value) }

// WithContentType overrides the content type of one call.
func WithContentType(ct string) SendOption {
	return func(r *bindings.InvokeRequest) { r.ContentType = ct }
}

// Send encodes v and invokes the binding's "create" operation.
func (o Output[T]) Send(ctx context.Context, v T, opts ...SendOption) error {
	if o.b.Output == nil {
		return fmt.Errorf("functions.Output[%T] is not bound to a binding (is the Outputs field tagged, and was go generate run?)", v)
	}
	data, ct, err := Encode(v)
	if err != nil {
		return fmt.Errorf("encode for output %q: %w", o.b.Name, err)
	}
	req := &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: data, ContentType: ct}
	for _, opt := range opts {
		opt(req)
	}
	_, err = o.b.Invoke(ctx, req)
	return err
}

// Encode turns a value into bytes and a content type the way Output and
// return values do: []byte and string as they are, anything else as JSON.
func Encode(v any) ([]byte, string, error) {
	switch x := v.(type) {
	case []byte:
		return x, "application/octet-stream", nil
	case string:
		return []byte(x), "text/plain; charset=utf-8", nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, "", err
	}
	return data, "application/json", nil
}
