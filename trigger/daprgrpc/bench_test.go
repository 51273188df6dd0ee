package daprgrpc_test

import (
	"context"
	"slices"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/trigger"
)

// BenchmarkInvokeBindingHop measures the app → output binding hop over
// Dapr's gRPC API with the Go SDK's client into a memory output, the
// counterpart of trigger's BenchmarkOutputHop: seq (one client; p50-ns)
// and par (GOMAXPROCS callers on the SDK's one connection).
//
//	go test -run '^$' -bench InvokeBindingHop -benchtime 20000x ./trigger/daprgrpc/
func BenchmarkInvokeBindingHop(b *testing.B) {
	set := bindingtest.LoadComponents(b, bindingtest.ComponentYAML("bench", "bindings.memory",
		map[string]string{"queue": "bench-grpc-" + time.Now().Format("150405.000000"), "direction": "output"}))
	rt, err := trigger.New(trigger.Options{Components: set})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer rt.Shutdown(ctx)
	addr := startB(b, rt)
	b.Setenv("DAPR_API_TOKEN", "")
	client, err := dapr.NewClientWithAddress(addr)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	req := &dapr.InvokeBindingRequest{Name: "bench", Operation: "create",
		Data: []byte(`{"id":12345,"items":["a","b","c"]}`), Metadata: map[string]string{"key": "k"}}
	b.Run("seq", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			t0 := time.Now()
			if _, err := client.InvokeBinding(ctx, req); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	})
	b.Run("par", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := client.InvokeBinding(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
