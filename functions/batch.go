package functions

import (
	"errors"
	"fmt"
)

// Batch is the messages a batch handler takes at once, decoded: Items[i] is
// the payload of the i-th message. A handler of the shape
//
//	func(ctx context.Context, b *functions.Batch[T]) error
//
// marks the items that failed with Fail; every item it does not mark is
// acked. Each failed item is retried, snoozed or dead-lettered on its own, by
// its error, as a single message would be: Fail(i, err) retries it with
// backoff, Fail(i, Permanent(err)) dead-letters it now, Fail(i,
// RetryAfter(d, err)) snoozes it. A handler that returns an error fails every
// item with it (as the all-or-nothing shape func(ctx, []T) error does).
//
// On an ordered trigger an item that failed holds back the items after it in
// the batch with the same ordering key: they are not settled, and come back
// after it, in order.
type Batch[T any] struct {
	// Items are the decoded payloads, in the order the broker delivered them.
	Items []T

	deliveries []*Delivery
	errs       []error
}

// NewBatch returns a batch of items, each with the delivery it came in
// (deliveries[i] for items[i]; nil deliveries are allowed, as in tests). The
// runtime's generated code and fntest build batches; handlers do not.
func NewBatch[T any](items []T, deliveries []*Delivery) *Batch[T] {
	if deliveries != nil && len(deliveries) != len(items) {
		panic(fmt.Sprintf("functions.NewBatch: %d items but %d deliveries", len(items), len(deliveries)))
	}
	return &Batch[T]{Items: items, deliveries: deliveries}
}

// Len is the number of items.
func (b *Batch[T]) Len() int { return len(b.Items) }

// Delivery returns the delivery of item i (its message, metadata, attempt),
// or nil when the batch was built without them.
func (b *Batch[T]) Delivery(i int) *Delivery {
	if b.deliveries == nil {
		return nil
	}
	return b.deliveries[i]
}

// errItemFailed is what Fail(i, nil) records.
var errItemFailed = errors.New("batch item failed")

// Fail marks item i failed with err (nil means a plain failure). The last
// mark of an item wins.
func (b *Batch[T]) Fail(i int, err error) {
	if i < 0 || i >= len(b.Items) {
		panic(fmt.Sprintf("functions.Batch.Fail: index %d out of range [0,%d)", i, len(b.Items)))
	}
	if err == nil {
		err = errItemFailed
	}
	if b.errs == nil {
		b.errs = make([]error, len(b.Items))
	}
	b.errs[i] = err
}

// Err returns the error item i was marked with, nil when it was not.
func (b *Batch[T]) Err(i int) error {
	if b.errs == nil {
		return nil
	}
	return b.errs[i]
}

// Errors returns one error per item, nil for the items not marked; nil when
// no item was marked.
func (b *Batch[T]) Errors() []error { return b.errs }
