package functions

import (
	"context"
	"log/slog"

	"github.com/tetherfn/tether/bindings"
)

// Delivery describes the message a handler is working on. The runtime puts it
// in the handler's context; read it with FromContext. (The trigger's delivery
// settings are bindings.DeliveryPolicy.)
type Delivery struct {
	// Function is the function's name (from its directive).
	Function string
	// Binding is the trigger's component name; BindingType its type.
	Binding     string
	BindingType string
	// Attempt is 1 on the first try and grows with every retry.
	Attempt int
	// Message is the message as the driver delivered it. Handlers must not
	// keep it after they return.
	Message *bindings.Message
	// Logger carries the function and binding; Logger(ctx) adds the message
	// id. May be nil.
	Logger *slog.Logger
}

// DeliveryKey is the context key under which a *Delivery is stored. Handlers
// use FromContext; runtimes that build their own context type answer
// Value(DeliveryKey{}) with the *Delivery.
type DeliveryKey struct{}

// NewContext returns a copy of ctx carrying d. The runtime and fntest call it;
// handlers rarely need to.
func NewContext(ctx context.Context, d *Delivery) context.Context {
	return context.WithValue(ctx, DeliveryKey{}, d)
}

// FromContext returns the delivery being handled, or nil outside a handler.
func FromContext(ctx context.Context) *Delivery {
	d, _ := ctx.Value(DeliveryKey{}).(*Delivery)
	return d
}

// MessageMetadata returns the metadata of the trigger message being handled
// (broker attributes or headers), nil outside a handler. (To set metadata on
// a message a handler sends, see WithMetadata and WithMetadataKey.)
func MessageMetadata(ctx context.Context) map[string]string {
	if d := FromContext(ctx); d != nil && d.Message != nil {
		return d.Message.ReadMetadata()
	}
	return nil
}

// Metadata returns MessageMetadata(ctx).
//
// Deprecated: use MessageMetadata, which says whose metadata it returns.
func Metadata(ctx context.Context) map[string]string { return MessageMetadata(ctx) }

// Logger returns a logger carrying the function, binding and message id of
// the delivery in ctx; outside a handler, slog's default logger.
func Logger(ctx context.Context) *slog.Logger {
	d := FromContext(ctx)
	if d == nil {
		return slog.Default()
	}
	l := d.Logger
	if l == nil {
		l = slog.Default().With("function", d.Function, "binding", d.Binding)
	}
	if d.Message != nil {
		l = l.With("id", d.Message.ID, "attempt", d.Attempt)
	}
	return l
}
