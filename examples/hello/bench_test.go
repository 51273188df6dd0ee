package hello_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/examples/hello"
	"github.com/tetherfn/tether/functions/fntest"
	"github.com/tetherfn/tether/trigger"
)

// discard is an output that accepts everything and keeps nothing, so that
// the benchmarks measure the function, not a recorder.
type discard struct{}

func (discard) Invoke(context.Context, *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	return nil, nil
}
func (discard) Close() error { return nil }

func discardOutput(component string) (bindings.OutputBinding, error) {
	return bindings.OutputBinding{Name: component, Type: fntest.RecorderType, Output: discard{}}, nil
}

var person = &bindings.Message{ID: "1", Data: []byte(`{"name":"Ada"}`), ContentType: "application/json"}

// generated is the generated function, bound as at start-up.
func generated(tb testing.TB) trigger.Handler {
	fn := hello.GreetFunction()
	if err := fn.Bind(context.Background(), trigger.NewOutputs(fn.Name, discardOutput)); err != nil {
		tb.Fatal(err)
	}
	return fn.Handler
}

// direct is what a hand-written adapter would do: decode, then call.
func direct(tb testing.TB) trigger.Handler {
	var out hello.Outputs
	ob, _ := discardOutput("greetings")
	if err := out.Greetings.BindOutput(ob); err != nil {
		tb.Fatal(err)
	}
	out.Settings.Salutation = "Hello"
	return func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
		var p hello.Person
		if err := json.Unmarshal(m.Data, &p); err != nil {
			return trigger.Result{}, err
		}
		return trigger.Result{}, hello.Greet(ctx, p, out)
	}
}

// BenchmarkAdapter compares the generated adapter with decoding and calling
// the handler by hand: allocs/op must be the same.
func BenchmarkAdapter(b *testing.B) {
	quietLogs(b)
	for _, c := range []struct {
		name string
		h    func(testing.TB) trigger.Handler
	}{{"direct", direct}, {"generated", generated}} {
		b.Run(c.name, func(b *testing.B) {
			h := c.h(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h(ctx, person); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAdapterAddsNoAllocation guards what BenchmarkAdapter shows.
func TestAdapterAddsNoAllocation(t *testing.T) {
	quietLogs(t)
	ctx := context.Background()
	measure := func(h trigger.Handler) float64 {
		return testing.AllocsPerRun(1000, func() {
			if _, err := h(ctx, person); err != nil {
				t.Fatal(err)
			}
		})
	}
	d, g := measure(direct(t)), measure(generated(t))
	if g > d {
		t.Errorf("generated adapter: %v allocations per message; by hand: %v", g, d)
	}
}

// quietLogs sends Greet's log line nowhere for the test: slog's default
// handler pools its buffers, which makes allocation counts vary by a run.
func quietLogs(tb testing.TB) {
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	tb.Cleanup(func() { slog.SetDefault(prev) })
}
