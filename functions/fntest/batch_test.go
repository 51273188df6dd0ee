package fntest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/functions/fntest"
	"github.com/tetherfn/tether/trigger"
)

// processBatch is what the generator writes for
//
//	//tether:function process trigger=orders
//	func Process(ctx context.Context, b *functions.Batch[order], out outputs) error
func processBatch(handle func(context.Context, *functions.Batch[order], outputs) error) trigger.Function {
	var out outputs
	return trigger.Function{
		Name: "process", Trigger: "orders",
		Bind: func(_ context.Context, o *trigger.Outputs) error {
			return errors.Join(o.Bind("Shipped", &out.Shipped, "shipped"), o.Bind("Audit", &out.Audit, "audit"))
		},
		BatchHandler: func(ctx context.Context, msgs []*bindings.Message) []error {
			return functions.HandleBatch(ctx, msgs, func(d *functions.Delivery) (order, error) {
				var in order
				if err := json.Unmarshal(d.Message.Data, &in); err != nil {
					return in, functions.Permanent(fmt.Errorf("decode JSON payload into order: %w", err))
				}
				return in, nil
			}, func(ctx context.Context, b *functions.Batch[order]) error { return handle(ctx, b, out) })
		},
	}
}

// Each message of a batch gets its own outcome through the delivery policy:
// acked, retried (with its own attempt's backoff), snoozed, dead-lettered
// (the undecodable one without reaching the handler), exhausted on its last
// attempt; what the handler sent is recorded.
func TestSendBatchOutcomes(t *testing.T) {
	var sizes []int
	h := fntest.New(t, processBatch(func(ctx context.Context, b *functions.Batch[order], out outputs) error {
		sizes = append(sizes, b.Len())
		for i, o := range b.Items {
			switch o.ID {
			case "retry", "last":
				b.Fail(i, errors.New("not yet"))
			case "snooze":
				b.Fail(i, functions.RetryAfter(42*time.Second, errors.New("rate limited")))
			case "bad":
				b.Fail(i, functions.Permanent(errors.New("bad order")))
			default:
				if err := out.Shipped.Send(ctx, o); err != nil {
					b.Fail(i, err)
				}
			}
			if d := b.Delivery(i); d == nil || d.Function != "process" || d.Attempt != d.Message.DeliveryCount {
				b.Fail(i, fmt.Errorf("item %d has delivery %+v", i, d))
			}
		}
		return nil
	}))
	outs := h.SendBatchMessages(
		h.Message(order{ID: "ok"}),
		h.Message(order{ID: "retry"}, fntest.Attempt(2)),
		h.Message("not json"),
		h.Message(order{ID: "snooze"}),
		h.Message(order{ID: "bad"}, fntest.ID("bad-1")),
		h.Message(order{ID: "last"}, fntest.Attempt(5)),
	)
	want := []struct {
		action trigger.Action
		delay  time.Duration
	}{
		{trigger.Acked, 0}, {trigger.RetryLater, 2 * time.Second}, {trigger.DeadLettered, 0},
		{trigger.RetryLater, 42 * time.Second}, {trigger.DeadLettered, 0}, {trigger.DeadLettered, 0},
	}
	if len(outs) != len(want) {
		t.Fatalf("%d outcomes, want %d", len(outs), len(want))
	}
	for i, o := range outs {
		if o.Action != want[i].action || o.Delay != want[i].delay {
			t.Errorf("message %d: %v, want %v after %s", i, o, want[i].action, want[i].delay)
		}
	}
	if len(sizes) != 1 || sizes[0] != 5 {
		t.Errorf("handler called with batches of %v, want one of 5 (the undecodable message left out)", sizes)
	}
	if dl := outs[4].DeadLetter; dl == nil || dl.MessageID != "bad-1" || dl.Error == "" {
		t.Errorf("dead letter of message 4: %+v", dl)
	}
	if sent := h.Output("shipped").Sent(); len(sent) != 1 || fntest.Decode[order](t, sent[0]).ID != "ok" {
		t.Errorf("shipped %v, want the one good order", sent)
	}
	// Send delivers a batch of one.
	if out := h.Send(order{ID: "ok"}); !out.Acked() || len(sizes) != 2 || sizes[1] != 1 {
		t.Errorf("Send: %v, batch sizes %v", out, sizes)
	}
}

// An error the handler returns fails every item; a panic fails every item
// with the PanicError; a batch that failed past its handlerTimeout fails
// whole with ErrHandlerTimeout, each item keeping its own error as the
// cause (a Permanent one is dead-lettered, the others retried), as in the
// runtime.
func TestSendBatchWholeBatchFailures(t *testing.T) {
	policy := bindings.DefaultDeliveryPolicy()
	policy.Jitter, policy.HandlerTimeout = 0, 50*time.Millisecond
	h := fntest.New(t, processBatch(func(ctx context.Context, b *functions.Batch[order], _ outputs) error {
		switch b.Items[0].ID {
		case "fail":
			b.Fail(1, functions.Permanent(errors.New("overridden")))
			return errors.New("database down")
		case "panic":
			panic("boom")
		case "hang":
			<-ctx.Done()
			b.Fail(0, ctx.Err())
		case "poison":
			b.Fail(0, functions.Permanent(errors.New("poison")))
			<-ctx.Done()
			b.Fail(1, ctx.Err())
		}
		return nil
	}), fntest.DeliveryPolicy(policy))

	for i, o := range h.SendBatch(order{ID: "fail"}, order{ID: "x"}) {
		if o.Action != trigger.RetryLater || o.Err == nil || o.Err.Error() != "database down" {
			t.Errorf("returned error, message %d: %v; want a retry with the batch's error", i, o)
		}
	}
	for i, o := range h.SendBatch(order{ID: "panic"}, order{ID: "x"}) {
		var pe *trigger.PanicError
		if o.Action != trigger.RetryLater || !errors.As(o.Err, &pe) || pe.Value != "boom" {
			t.Errorf("panic, message %d: %v; want a retry with the PanicError", i, o)
		}
	}
	hang := h.SendBatch(order{ID: "hang"}, order{ID: "x"})
	for i, o := range hang {
		if o.Action != trigger.RetryLater || !errors.Is(o.Err, trigger.ErrHandlerTimeout) || errors.Is(o.Err, context.DeadlineExceeded) != (i == 0) {
			t.Errorf("timeout, message %d: %v; want a retry with the timeout, caused by the item's own error only", i, o)
		}
	}
	poison := h.SendBatch(order{ID: "poison"}, order{ID: "x"})
	if o := poison[0]; o.Action != trigger.DeadLettered || !errors.Is(o.Err, trigger.ErrHandlerTimeout) {
		t.Errorf("timeout, the permanent item: %v; want it dead-lettered", o)
	}
	if o := poison[1]; o.Action != trigger.RetryLater {
		t.Errorf("timeout, the other item: %v; want a retry: another item's Permanent says nothing of it", o)
	}
}
