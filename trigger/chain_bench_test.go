package trigger

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/functions"
)

// BenchmarkChain measures the delivery middleware around a no-op handler, on
// the runtime's own handler context, against calling the handler directly.
func BenchmarkChain(b *testing.B) {
	noop := func(context.Context, *bindings.Message) (Result, error) { return Result{}, nil }
	policy := bindings.DefaultDeliveryPolicy()
	m := &bindings.Message{ID: "1", DeliveryCount: 1}
	w := &worker{}
	wd := newWatchdog(policy.HandlerTimeout, nil)
	wd.workers = []*worker{w}
	go wd.run()
	defer wd.close()
	origin := &functions.Delivery{Function: "f", Binding: "b"} // the dispatcher's, shared
	run := func(b *testing.B, h Handler) {
		b.ReportAllocs()
		for range b.N {
			hc := &handlerContext{parent: context.Background(), clock: wd, origin: origin, attempt: 1, msg: m}
			w.current.Store(hc)
			if _, err := h(hc, m); err != nil {
				b.Fatal(err)
			}
			w.current.Store(nil)
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, noop) })
	b.Run("chain", func(b *testing.B) {
		run(b, Chain(noop, ChainOptions{Function: "f", Binding: "b", Policy: policy,
			Metrics: NewMetrics(prometheus.NewRegistry())}))
	})
	b.Run("chain-traced", func(b *testing.B) {
		// Every attempt sampled; spans batched to an exporter that drops
		// them.
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		defer tp.Shutdown(context.Background())
		c := &component.Component{Name: "b", Metadata: map[string]string{"queue": "q"}}
		run(b, Chain(noop, ChainOptions{Function: "f", Binding: "b", Policy: policy,
			Metrics: NewMetrics(prometheus.NewRegistry()),
			Tracing: newTracer(tp).middleware("f", c, &bindings.Type{Name: "bindings.memory"}, policy)}))
	})
	b.Run("chain-observed", func(b *testing.B) { // as under tether dev, the observer discarding
		run(b, Chain(noop, ChainOptions{Function: "f", Binding: "b", Policy: policy,
			Metrics:  NewMetrics(prometheus.NewRegistry()),
			Observer: discard{}}))
	})
	b.Run("chain-no-timeout", func(b *testing.B) {
		p := policy
		p.HandlerTimeout = 0
		run(b, Chain(noop, ChainOptions{Function: "f", Binding: "b", Policy: p,
			Metrics: NewMetrics(prometheus.NewRegistry())}))
	})
}

type discard struct{}

func (discard) Observe(DeliveryEvent) {}
