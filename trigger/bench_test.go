package trigger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/internal/testkit/benchtest"
	"github.com/tetherfn/tether/trigger"
)

type benchOrder struct {
	ID       string  `json:"id"`
	Customer string  `json:"customer"`
	Amount   float64 `json:"amount"`
	Items    int     `json:"items"`
}

var benchPayload = []byte(`{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`)

// BenchmarkChannelBaseline is the yardstick: a bare Go channel loop doing the
// same JSON decode as the trigger benchmark's handler. Compare events/s,
// ns/op and allocs/op of the two in the same run.
func BenchmarkChannelBaseline(b *testing.B) {
	b.ReportAllocs()
	b.ResetTimer()
	channelLoop(b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// channelLoop hands n payloads over a buffered channel to a goroutine that
// decodes each: the baseline's work.
func channelLoop(n int) {
	ch := make(chan []byte, 64)
	done := make(chan struct{})
	go func() {
		for data := range ch {
			var o benchOrder
			if err := json.Unmarshal(data, &o); err != nil {
				panic(err)
			}
		}
		close(done)
	}()
	for range n {
		ch <- benchPayload
	}
	close(ch)
	<-done
}

// BenchmarkMemoryTrigger: messages published to a memory queue, received by
// the runtime, passed through the whole delivery middleware chain to a
// handler that decodes the JSON payload and returns nil, then acked.
func BenchmarkMemoryTrigger(b *testing.B) {
	for _, conc := range []int{1, 2, 4, 16} {
		b.Run(fmt.Sprintf("maxConcurrency=%d", conc), func(b *testing.B) {
			q := unique(b, "bench")
			set := loadComponents(b, memoryComponent("in", q, map[string]string{
				"maxConcurrency": fmt.Sprint(conc), "batchSize": "64",
			}))
			var handled atomic.Int64
			done := make(chan struct{})
			var target atomic.Int64
			target.Store(-1)
			startRuntime(b, set, trigger.Function{Name: "bench", Trigger: "in",
				Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
					var o benchOrder
					if err := json.Unmarshal(m.Data, &o); err != nil {
						return trigger.Result{}, err
					}
					if handled.Add(1) == target.Load() {
						close(done)
					}
					return trigger.Result{}, nil
				}})
			b.ReportAllocs()
			b.ResetTimer()
			target.Store(int64(b.N))
			for range b.N {
				memory.Publish(q, &bindings.Message{Data: benchPayload, ContentType: "application/json"})
			}
			<-done
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkRatio alternates rounds of the channel baseline and the memory
// trigger (maxConcurrency 16) in one run, so that both see the same machine,
// and reports each one's events/s and their ratio (trigger ÷ baseline), the
// median of the rounds' ratios, and the trigger's fixed cost per message
// (its time per message less the baseline's, in wall time and in the
// process's CPU time, which the machine's load changes less), with their
// ranges, and each side's allocations per message (the trigger's include
// the memory queue's entry for the message, the baseline's do not). The
// trigger's publisher stays at most ratioWindow messages ahead of its
// handler, as the baseline's sender stays its channel's buffer ahead.
// go test -bench Ratio -benchtime 5x.
//
//tether:bench benchtime=1x count=15
func BenchmarkRatio(b *testing.B) { benchmarkRatio(b, nil) }

// BenchmarkRatioTraced is BenchmarkRatio with tracing on: every message
// sampled, its delivery and attempt spans batched to an exporter that
// drops them (the cost of making spans, not of sending them).
func BenchmarkRatioTraced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	benchmarkRatio(b, tp)
}

// ratioWindow is how far the publisher of BenchmarkRatio runs ahead of
// the handler, as the channel loop's sender runs at most its buffer (64)
// ahead of its receiver. Unbounded, the publisher filled the memory queue
// with the round's 100,000 messages before the trigger had handled many,
// and every GC cycle of the round marked that queue: on the 2-core
// virtual machine, a quarter of the trigger's time, a cost of the
// benchmark's publisher, which the channel loop does not pay.
const ratioWindow = 1024

// ratioProgress is how often the handler tells a waiting publisher that
// messages were handled: every ratioProgress messages.
const ratioProgress = 64

func benchmarkRatio(b *testing.B, tp trace.TracerProvider) {
	const perRound = 100000
	q := unique(b, "ratio")
	set := loadComponents(b, memoryComponent("in", q, map[string]string{"maxConcurrency": "16", "batchSize": "64"}))
	var handled atomic.Int64
	round := make(chan struct{}, 1)
	progress := make(chan struct{}, 1)
	var target atomic.Int64
	startWith(b, trigger.Options{Components: set, TracerProvider: tp, Functions: []trigger.Function{{Name: "bench", Trigger: "in",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			var o benchOrder
			if err := json.Unmarshal(m.Data, &o); err != nil {
				return trigger.Result{}, err
			}
			n := handled.Add(1)
			if n == target.Load() {
				round <- struct{}{}
			}
			if n%ratioProgress == 0 {
				select {
				case progress <- struct{}{}:
				default:
				}
			}
			return trigger.Result{}, nil
		}}}})
	baseline := func() time.Duration {
		start := time.Now()
		channelLoop(perRound)
		return time.Since(start)
	}
	tether := func() time.Duration {
		first := target.Load()
		target.Add(perRound)
		start := time.Now()
		for i := range int64(perRound) {
			for i-(handled.Load()-first) >= ratioWindow {
				<-progress
			}
			memory.Publish(q, &bindings.Message{Data: benchPayload, ContentType: "application/json"})
		}
		<-round
		return time.Since(start)
	}
	target.Store(0)
	// Per round: the ratio of the rates, and the fixed cost per message, the
	// trigger's time (wall, and the process's CPU) less the baseline's.
	// And the allocations per message of each (the decode's among them),
	// counted between the rounds.
	var ratios, fixedWall, fixedCPU []float64
	var base, teth time.Duration
	var baseAllocs, tethAllocs uint64
	mallocs := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.Mallocs
	}
	for range b.N {
		a0 := mallocs()
		c0 := benchtest.ProcessCPU()
		bd := baseline()
		c1 := benchtest.ProcessCPU()
		a1 := mallocs()
		c2 := benchtest.ProcessCPU()
		td := tether()
		c3 := benchtest.ProcessCPU()
		a2 := mallocs()
		base += bd
		teth += td
		baseAllocs += a1 - a0
		tethAllocs += a2 - a1
		ratios = append(ratios, bd.Seconds()/td.Seconds())
		fixedWall = append(fixedWall, float64(td-bd)/perRound)
		fixedCPU = append(fixedCPU, float64((c3-c2)-(c1-c0))/perRound)
	}
	perEvent := func(n uint64) float64 { return float64(n) / float64(b.N*perRound) }
	b.ReportMetric(perEvent(baseAllocs), "baseline-allocs/event")
	b.ReportMetric(perEvent(tethAllocs), "tether-allocs/event")
	b.ReportMetric(perEvent(tethAllocs)-perEvent(baseAllocs), "extra-allocs/event")
	b.ReportMetric(float64(b.N*perRound)/base.Seconds(), "baseline-events/s")
	b.ReportMetric(float64(b.N*perRound)/teth.Seconds(), "tether-events/s")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(slices.Min(ratios), "ratio-min")
	b.ReportMetric(slices.Max(ratios), "ratio-max")
	b.ReportMetric(median(fixedWall), "fixed-ns/event")
	b.ReportMetric(median(fixedCPU), "fixed-cpu-ns/event")
	b.Logf("ratio median %.2f (%.2f-%.2f); fixed cost per message median %.0f ns (%.0f-%.0f), in CPU %.0f ns (%.0f-%.0f); allocations per message %.2f, the baseline's %.2f",
		median(ratios), slices.Min(ratios), slices.Max(ratios),
		median(fixedWall), slices.Min(fixedWall), slices.Max(fixedWall),
		median(fixedCPU), slices.Min(fixedCPU), slices.Max(fixedCPU),
		perEvent(tethAllocs), perEvent(baseAllocs))
}
