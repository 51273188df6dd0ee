package trigger

import (
	"context"
	"errors"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// deliveryCtx returns a context carrying a delivery at the given attempt, as
// the dispatcher makes for each attempt.
// deliveryCtx makes m the attempt-th delivery (as a broker counts it) and
// returns the context the runtime would give its handler.
func deliveryCtx(attempt int, m *bindings.Message) context.Context {
	m.DeliveryCount = attempt
	return functions.NewContext(context.Background(), &functions.Delivery{
		Function: "fn", Binding: "in", Attempt: attempt, Message: m,
	})
}

func failWith(err error) Handler {
	return func(context.Context, *bindings.Message) (Result, error) { return Result{}, err }
}

func succeed(context.Context, *bindings.Message) (Result, error) {
	return Result{Data: []byte("ok")}, nil
}

var errBoom = errors.New("boom")
