package memory_test

import (
	"context"
	"fmt"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
)

func Example() {
	ctx := context.Background()
	cfg := bindings.Config{Name: "example-orders", Type: memory.TypeName}
	out, _, err := bindings.OpenOutput(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer out.Close()
	in, _, err := bindings.OpenInput(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer in.Close()

	out.Invoke(ctx, &bindings.InvokeRequest{
		Operation:   bindings.OpCreate,
		Data:        []byte(`{"id":1}`),
		ContentType: "application/json",
		Metadata:    map[string]string{"partitionKey": "customer-7"},
	})
	msgs, _ := in.Receive(ctx, 10)
	m := msgs[0]
	fmt.Println(string(m.Data), m.ContentType, m.Key, m.DeliveryCount)
	in.Ack(ctx, m)
	fmt.Println(memory.Len("example-orders"))
	// Output:
	// {"id":1} application/json customer-7 1
	// 0
}
