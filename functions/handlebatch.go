package functions

import (
	"context"

	"github.com/tetherfn/tether/bindings"
)

// HandleBatch is what the generated code of a batch handler runs: it decodes
// each of msgs with decode, calls handle once with the items that decoded,
// and returns one error per message, in order (nil when every message
// succeeded), as trigger.BatchHandler does. Handlers do not call it.
//
// Each item gets its own Delivery: the function, binding and logger of the
// delivery in ctx, with the item's message and attempt (its DeliveryCount).
// decode reads the payload from d.Message; a message it cannot decode fails
// on its own with decode's error (the generated decode returns a Permanent
// one, so it is dead-lettered at once) while the others go to handle, and
// is not in the batch: the batch's item j is then not message j, and the
// errors handle marks are mapped back to their messages. When no message
// decodes, handle is not called.
//
// An error handle returns fails every item of the batch with it, whatever
// the items were marked with; otherwise each item's error is its mark
// (Batch.Fail), nil for an item not marked.
func HandleBatch[T any](ctx context.Context, msgs []*bindings.Message, decode func(d *Delivery) (T, error), handle func(ctx context.Context, b *Batch[T]) error) []error {
	base := FromContext(ctx)
	all := make([]Delivery, len(msgs)) // one allocation for every item's delivery
	items := make([]T, 0, len(msgs))
	deliveries := make([]*Delivery, 0, len(msgs))
	var errs []error
	var index []int // the message of each item; nil while item j is message j
	for i, m := range msgs {
		d := &all[i]
		if base != nil {
			*d = *base
		}
		d.Message, d.Attempt = m, max(m.DeliveryCount, 1)
		in, err := decode(d)
		if err != nil {
			if errs == nil {
				errs = make([]error, len(msgs))
			}
			errs[i] = err
			if index == nil {
				index = make([]int, i, len(msgs))
				for j := range index {
					index[j] = j
				}
			}
			continue
		}
		if index != nil {
			index = append(index, i)
		}
		items = append(items, in)
		deliveries = append(deliveries, d)
	}
	if len(items) == 0 {
		return errs
	}
	b := NewBatch(items, deliveries)
	err := handle(ctx, b)
	marks := b.Errors()
	if err == nil && marks == nil {
		return errs
	}
	if errs == nil {
		errs = make([]error, len(msgs))
	}
	for j := range items {
		i := j
		if index != nil {
			i = index[j]
		}
		if err != nil {
			errs[i] = err
		} else {
			errs[i] = marks[j]
		}
	}
	return errs
}
