package trigger_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

// BenchmarkBatchRatio runs, in rounds whose order rotates, three ways of
// taking perRound JSON payloads off a queue and decoding each: a bare
// channel loop handing slices of 100 to a goroutine (the yardstick), the
// memory trigger with a single-message handler, and the memory trigger
// with a batch handler (maxBatchSize 100). Both triggers have
// maxConcurrency 16 and batchSize 100, and are published to 100 messages at
// a time. It reports each one's events/s and the batch trigger's ratios to
// the other two: the median of the rounds', with their range.
//
//	go test -run '^$' -bench BatchRatio -benchtime 10x ./trigger/
//
//tether:bench benchtime=7x quick=3x count=1
func BenchmarkBatchRatio(b *testing.B) {
	const perRound, chunk = 100000, 100
	md := map[string]string{"maxConcurrency": "16", "batchSize": "100", "maxBatchSize": "100"}
	qSingle, qBatch := unique(b, "single"), unique(b, "batch")
	set := loadComponents(b, memoryComponent("single", qSingle, md), memoryComponent("batch", qBatch, md))
	var handled, target atomic.Int64
	round := make(chan struct{}, 1)
	count := func(n int64) {
		if handled.Add(n) == target.Load() {
			round <- struct{}{}
		}
	}
	startRuntime(b, set,
		trigger.Function{Name: "single", Trigger: "single", Handler: func(_ context.Context, m *bindings.Message) (trigger.Result, error) {
			var o benchOrder
			if err := json.Unmarshal(m.Data, &o); err != nil {
				return trigger.Result{}, err
			}
			count(1)
			return trigger.Result{}, nil
		}},
		trigger.Function{Name: "batch", Trigger: "batch", BatchHandler: func(_ context.Context, ms []*bindings.Message) []error {
			var errs []error
			for i, m := range ms {
				var o benchOrder
				if err := json.Unmarshal(m.Data, &o); err != nil {
					if errs == nil {
						errs = make([]error, len(ms))
					}
					errs[i] = err
				}
			}
			count(int64(len(ms)))
			return errs
		}},
	)
	bare := func() time.Duration {
		start := time.Now()
		ch := make(chan [][]byte, 16)
		done := make(chan struct{})
		go func() {
			for batch := range ch {
				for _, data := range batch {
					var o benchOrder
					if err := json.Unmarshal(data, &o); err != nil {
						panic(err)
					}
				}
			}
			close(done)
		}()
		for range perRound / chunk {
			batch := make([][]byte, chunk)
			for i := range batch {
				batch[i] = benchPayload
			}
			ch <- batch
		}
		close(ch)
		<-done
		return time.Since(start)
	}
	viaTrigger := func(q string) func() time.Duration {
		return func() time.Duration {
			target.Add(perRound)
			start := time.Now()
			for range perRound / chunk {
				msgs := make([]*bindings.Message, chunk)
				for i := range msgs {
					msgs[i] = &bindings.Message{Data: benchPayload, ContentType: "application/json"}
				}
				memory.Publish(q, msgs...)
			}
			<-round
			return time.Since(start)
		}
	}
	runs := []func() time.Duration{bare, viaTrigger(qSingle), viaTrigger(qBatch)}
	total := make([]time.Duration, len(runs))
	var overBare, overSingle []float64
	b.ResetTimer()
	for n := range b.N {
		var took [3]time.Duration
		for i := range runs {
			j := (i + n) % len(runs) // each goes first in turn
			took[j] = runs[j]()
			total[j] += took[j]
		}
		overBare = append(overBare, took[0].Seconds()/took[2].Seconds())
		overSingle = append(overSingle, took[1].Seconds()/took[2].Seconds())
	}
	b.StopTimer()
	events := float64(b.N * perRound)
	b.ReportMetric(events/total[0].Seconds(), "bare-events/s")
	b.ReportMetric(events/total[1].Seconds(), "single-events/s")
	b.ReportMetric(events/total[2].Seconds(), "batch-events/s")
	for _, r := range []struct {
		name   string
		ratios []float64
	}{{"batch/bare-ratio", overBare}, {"batch/single-ratio", overSingle}} {
		slices.Sort(r.ratios)
		b.ReportMetric(r.ratios[len(r.ratios)/2], r.name)
		b.ReportMetric(r.ratios[0], r.name+"-min")
		b.ReportMetric(r.ratios[len(r.ratios)-1], r.name+"-max")
	}
}
