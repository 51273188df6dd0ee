package trigger_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/internal/testkit/benchtest"
	"github.com/tetherfn/tether/trigger"
)

// noopPerRun is how many messages a no-op row handles per round: about
// 0.1s of the runtime's work. With 50,000 (25ms) a row's rounds ranged
// over a third of their median, and the table's order (rising or not)
// changed from one run to the next.
const noopPerRun = 200000

// BenchmarkConcurrency prints the table of a memory trigger's throughput at
// maxConcurrency 1, 4, 16 and 64 (batchSize 64), for two handlers: a no-op
// (the runtime's own cost: CPU-bound from the start, so the rate must not
// fall as workers are added) and one that waits 1ms as a call to a database
// would (the rate must rise with maxConcurrency until the CPU is
// saturated). Each of b.N rounds runs every row once, in turn, so that the
// machine's load touches them alike; each row shows the median msgs/s over
// the rounds, their range, and the process's CPU time per message.
//
// Each row's median is also reported as a metric (noop-c16-msgs/s). It runs
// nine rounds: once the CPU is saturated (the no-op from maxConcurrency 4 on,
// here) the rows are one plateau whose rounds range over a third of their
// median, and the medians of five rounds put a different row on top from one
// run to the next.
//
//	go test -run '^$' -bench Concurrency -benchtime 9x ./trigger/
//
//tether:bench benchtime=9x quick=2x count=1
func BenchmarkConcurrency(b *testing.B) {
	type row struct {
		handler string
		conc    int
		perRun  int
		q       string
		target  atomic.Int64
		handled atomic.Int64
		done    chan struct{}
		rates   []float64
		cpu     []float64 // µs of process CPU per message
	}
	var rows []*row
	var fns []trigger.Function
	var files []string
	for _, handler := range []string{"no-op", "waits 1ms"} {
		for _, conc := range []int{1, 4, 16, 64} {
			r := &row{handler: handler, conc: conc, perRun: noopPerRun, done: make(chan struct{}, 1)}
			if handler != "no-op" {
				r.perRun = 100 * conc // about 0.1s at full concurrency
			}
			r.q = unique(b, fmt.Sprintf("conc-%d", len(rows)))
			name := fmt.Sprintf("in%d", len(rows))
			files = append(files, memoryComponent(name, r.q, map[string]string{
				"maxConcurrency": fmt.Sprint(conc), "batchSize": "64",
			}))
			wait := handler != "no-op"
			fns = append(fns, trigger.Function{Name: fmt.Sprintf("f%d", len(rows)), Trigger: name,
				Handler: func(context.Context, *bindings.Message) (trigger.Result, error) {
					if wait {
						time.Sleep(time.Millisecond)
					}
					if r.handled.Add(1) == r.target.Load() {
						r.done <- struct{}{}
					}
					return trigger.Result{}, nil
				}})
			rows = append(rows, r)
		}
	}
	startRuntime(b, loadComponents(b, files...), fns...)
	msgs := make([]*bindings.Message, 0, noopPerRun)
	for range b.N {
		for _, r := range rows {
			msgs = msgs[:0]
			for range r.perRun {
				msgs = append(msgs, &bindings.Message{Data: benchPayload, ContentType: "application/json"})
			}
			r.target.Add(int64(r.perRun))
			cpu0 := benchtest.ProcessCPU()
			start := time.Now()
			memory.Publish(r.q, msgs...)
			<-r.done
			elapsed := time.Since(start)
			r.rates = append(r.rates, float64(r.perRun)/elapsed.Seconds())
			r.cpu = append(r.cpu, float64((benchtest.ProcessCPU()-cpu0).Microseconds())/float64(r.perRun))
		}
	}
	var t strings.Builder
	fmt.Fprintf(&t, "memory trigger, batchSize 64, %d rounds: median msgs/s (range), CPU µs/msg (median)\n", b.N)
	fmt.Fprintf(&t, "%-10s %15s %24s %10s\n", "handler", "maxConcurrency", "msgs/s", "CPU µs")
	for _, r := range rows {
		b.ReportMetric(median(r.rates), fmt.Sprintf("%s-c%d-msgs/s", strings.ReplaceAll(strings.ReplaceAll(r.handler, "-", ""), " ", ""), r.conc))
		fmt.Fprintf(&t, "%-10s %15d %8.0f (%6.0f-%6.0f) %10.2f\n", r.handler, r.conc,
			median(r.rates), slices.Min(r.rates), slices.Max(r.rates), median(r.cpu))
	}
	// Printed, not logged: the testing package keeps only ten lines of a
	// benchmark's log.
	fmt.Print(t.String())
}
