package trigger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
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
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ch <- benchPayload
	}
	close(ch)
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMemoryTrigger: messages published to a memory queue, received by
// the runtime, passed through the whole delivery middleware chain to a
// handler that decodes the JSON payload and returns nil, then acked.
func BenchmarkMemoryTrigger(b *testing.B) {
	for _, conc := range []int{1, 16} {
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
