package fntest

import (
	"context"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/trigger"
)

// SendBatch delivers payloads to a batch function as one batch, message i
// carrying payloads[i] (encoded as Send encodes it), and returns the
// outcome of each message, in order: the function's generated decode runs
// on each (a payload that does not decode is dead-lettered on its own),
// its handler once with the items that decoded, then each message goes
// through the delivery policy with the error the handler gave it, as the
// runtime settles it. Outputs record what the handler sent.
//
//	outs := h.SendBatch(Reading{Sensor: "a"}, Reading{}, Reading{Sensor: "b"})
//	// outs[1].Action == trigger.DeadLettered when the handler failed item 1
//	// with functions.Permanent; outs[0] and outs[2] are acked.
//
// Sending to a function with a single-message handler fails the test.
func (h *Harness) SendBatch(payloads ...any) []Outcome {
	h.t.Helper()
	msgs := make([]*bindings.Message, len(payloads))
	for i, p := range payloads {
		msgs[i] = h.Message(p)
	}
	return h.SendBatchMessages(msgs...)
}

// Message returns the message Send would deliver for payload, for
// SendBatchMessages: []byte and string payloads as they are, anything else
// encoded as JSON; opts set its id, key, attempt, metadata...
func (h *Harness) Message(payload any, opts ...MessageOption) *bindings.Message {
	h.t.Helper()
	data, ct, err := functions.Encode(payload)
	if err != nil {
		h.t.Fatalf("fntest: encode payload: %v", err)
	}
	m := &bindings.Message{Data: data, ContentType: ct}
	for _, o := range opts {
		o(m)
	}
	return m
}

// SendBatchMessages delivers msgs to a batch function as one batch (each
// message's empty ID and DeliveryCount of 0 filled in, as SendMessage does)
// and returns each message's outcome, in order, as SendBatch does.
//
// As in the runtime, the handler's call is bounded by the policy's
// handlerTimeout: a batch that failed past it fails every item with
// trigger.ErrHandlerTimeout. A panic, or a BatchHandler returning the wrong
// number of errors, fails every item. Each outcome is what the message's
// own error decides: the hold-back of an ordered trigger (the later items
// of a failed item's key come back after it) is the runtime's, seen with
// Start.
func (h *Harness) SendBatchMessages(msgs ...*bindings.Message) []Outcome {
	h.t.Helper()
	if h.fn.BatchHandler == nil {
		h.t.Fatalf("fntest: function %q takes one message at a time: use Send, or SendMessage", h.fn.Name)
	}
	if len(msgs) == 0 {
		return nil
	}
	for _, m := range msgs {
		h.fill(m)
	}
	errs := h.callBatch(msgs)
	outs := make([]Outcome, len(msgs))
	for i, m := range msgs {
		ctx := h.context(context.WithValue(context.Background(), itemErrorKey{}, itemError{errs[i]}), m)
		res, err := h.handler(ctx, m)
		outs[i] = h.outcome(m, res, err)
	}
	return outs
}

// callBatch calls the batch handler once, as the runtime does: within the
// handler timeout, recovering a panic, with the batch's delivery (its
// attempt the highest of its messages') in ctx. It returns one error per
// message.
func (h *Harness) callBatch(msgs []*bindings.Message) []error {
	ctx := h.context(context.Background(), nil)
	d := functions.FromContext(ctx)
	for _, m := range msgs {
		d.Attempt = max(d.Attempt, m.DeliveryCount)
	}
	return trigger.CallBatch(ctx, h.fn.BatchHandler, msgs, h.policy.HandlerTimeout)
}

// itemErrorKey carries, in the context of one message's settling, the
// error the batch call gave it.
type itemErrorKey struct{}

type itemError struct{ err error }

// settleItem is the inner handler of a batch function's chain: it ends the
// message's attempt with the error the batch call gave it.
func settleItem(ctx context.Context, _ *bindings.Message) (trigger.Result, error) {
	e, _ := ctx.Value(itemErrorKey{}).(itemError)
	return trigger.Result{}, e.err
}
