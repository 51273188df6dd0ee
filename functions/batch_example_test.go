package functions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

type Reading struct {
	Sensor string  `json:"sensor"`
	Value  float64 `json:"value"`
}

// StoreReadings is a batch handler with per-item outcomes: it marks the
// items that failed, and every item it does not mark is acked. (The
// all-or-nothing shape is func(ctx context.Context, in []Reading) error.)
func StoreReadings(ctx context.Context, b *functions.Batch[Reading]) error {
	for i, r := range b.Items {
		switch {
		case r.Sensor == "":
			b.Fail(i, functions.Permanent(errors.New("no sensor"))) // dead-lettered now
		case r.Value > 150:
			b.Fail(i, functions.RetryAfter(time.Minute, errors.New("recalibrating"))) // snoozed
		}
	}
	// ... store the others, in one statement ...
	return nil
}

// A batch handler marks each failed item with Fail; the runtime retries,
// snoozes or dead-letters each on its own, by its error, and acks the rest.
// Here the batch is built by hand, as the generated code builds it from
// the messages.
func ExampleBatch() {
	b := functions.NewBatch([]Reading{{"s-1", 20}, {"", 21}, {"s-2", 999}}, nil)
	if err := StoreReadings(context.Background(), b); err != nil {
		panic(err)
	}
	for i := range b.Len() {
		err := b.Err(i)
		fmt.Printf("item %d: %v (permanent %v)\n", i, err, functions.IsPermanent(err))
	}
	// Output:
	// item 0: <nil> (permanent false)
	// item 1: permanent: no sensor (permanent true)
	// item 2: retry after 1m0s: recalibrating (permanent false)
}

// HandleBatch is what a generated batch handler runs: it decodes each
// message, calls the handler with the items that decoded, and maps each
// item's outcome back to its message. A message that does not decode fails
// on its own and never reaches the handler.
func ExampleHandleBatch() {
	msgs := []*bindings.Message{
		{ID: "m-1", Data: []byte(`{"sensor":"s-1","value":20}`)},
		{ID: "m-2", Data: []byte(`not json`)},
		{ID: "m-3", Data: []byte(`{"value":21}`)},
	}
	decode := func(d *functions.Delivery) (Reading, error) {
		var r Reading
		if err := json.Unmarshal(d.Message.Data, &r); err != nil {
			return r, functions.Permanent(fmt.Errorf("decode: %w", err))
		}
		return r, nil
	}
	errs := functions.HandleBatch(context.Background(), msgs, decode, func(ctx context.Context, b *functions.Batch[Reading]) error {
		fmt.Println("handler called with", b.Len(), "items; item 1 is message", b.Delivery(1).Message.ID)
		return StoreReadings(ctx, b)
	})
	for i, err := range errs {
		fmt.Printf("%s: %v\n", msgs[i].ID, err)
	}
	// Output:
	// handler called with 2 items; item 1 is message m-3
	// m-1: <nil>
	// m-2: permanent: decode: invalid character 'o' in literal null (expecting 'u')
	// m-3: permanent: no sensor
}
