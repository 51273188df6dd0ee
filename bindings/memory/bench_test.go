package memory_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/memory"
)

// BenchmarkRoundTrip measures the hot path, create → receive → ack, through
// the outputs and inputs the runtime opens.
func BenchmarkRoundTrip(b *testing.B) {
	q := bindingtest.Unique("bench")
	defer memory.Reset(q)
	md := map[string]string{"queue": q}
	out, _, err := bindings.OpenOutput(b.Context(), bindings.Config{Name: "bench", Type: memory.TypeName, Metadata: md})
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	in, _, err := bindings.OpenInput(b.Context(), bindings.Config{Name: "bench", Type: memory.TypeName, Metadata: md})
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	ctx := b.Context()
	req := &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte(`{"id":1}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := out.Invoke(ctx, req); err != nil {
			b.Fatal(err)
		}
		msgs, err := in.Receive(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		if err := in.Ack(ctx, msgs[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChannel is the baseline: the same hand-off over a buffered
// channel of []byte, with nothing to settle.
func BenchmarkChannel(b *testing.B) {
	c := make(chan []byte, 1)
	data := []byte(`{"id":1}`)
	b.ReportAllocs()
	for b.Loop() {
		c <- data
		if got := <-c; len(got) != len(data) {
			b.Fatal("short")
		}
	}
}
