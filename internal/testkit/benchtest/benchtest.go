// Package benchtest is the harness the binding benchmarks share: it runs a
// broker's raw client loop, the binding alone and the Tether runtime in turn,
// in rounds, and reports each one's rate in msgs/s. Each benchmark keeps its
// own broker-specific fill and raw loop; b.N is the messages per run.
//
//	func BenchmarkTrigger(b *testing.B) {
//		benchtest.Rounds(b, 7, benchRaw, func(b *testing.B) float64 {
//			return benchtest.Driver(b, bindings.Config{...}, 64)
//		}, func(b *testing.B) float64 {
//			return benchtest.Trigger(b, bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", typ, md)))
//		})
//	}
package benchtest

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/trigger"
)

// Rounds runs raw, driver and tether as sub-benchmarks of those names, in
// turn, rounds times, so that changes in the machine's load touch them
// alike. It logs each one's median rate and the median of tether's per-round
// ratio to raw, with the ratios themselves.
func Rounds(b *testing.B, rounds int, raw, driver, tether func(*testing.B) float64) {
	b.Helper()
	RoundsOf(b, rounds, Run{"raw", raw}, Run{"driver", driver}, Run{"tether", tether})
}

// Run is one contender of RoundsOf: a sub-benchmark's name and what it
// runs, returning its rate in msgs/s.
type Run struct {
	Name string
	F    func(*testing.B) float64
}

// RoundsOf runs each of runs as a sub-benchmark of its name, in turn,
// rounds times, so that changes in the machine's load touch them alike.
// A name may have a parent ("batch/raw", "batch/tether"): runs are compared
// within their parent, as internal/bench pairs them. The baseline of a
// parent is its first run named raw (or raw-<variant>), else its first run:
// for each other run it logs the median rate and the median of its
// per-round ratio to the baseline, with the range (lowest and highest
// ratio), e.g. "tether/raw median 0.93x (0.88-0.97)".
func RoundsOf(b *testing.B, rounds int, runs ...Run) {
	b.Helper()
	rounds = roundsOr(rounds)
	base := baselines(runs)
	rates := make([][]float64, len(runs))
	ratios := make([][]float64, len(runs))
	for round := range rounds {
		// Each sub-benchmark runs twice: once with b.N = 1 to probe, then
		// with the -benchtime count; the last run's rate is the one kept.
		// The order rotates from round to round: in a fixed order each run
		// would always follow the same other one, and inherit what that one
		// leaves behind (its garbage, connections closing, the broker's
		// cleanup of its queue), a bias that the rounds would not average
		// out.
		got := make([]float64, len(runs))
		for k := range runs {
			i := (round + k) % len(runs)
			r := runs[i]
			b.Run(r.Name, func(b *testing.B) { got[i] = r.F(b) })
			rates[i] = append(rates[i], got[i])
		}
		for i := range runs {
			ratios[i] = append(ratios[i], got[i]/got[base[i]])
		}
	}
	var line strings.Builder
	fmt.Fprintf(&line, "median msgs/s over %d rounds:", rounds)
	for i, r := range runs {
		if i > 0 {
			line.WriteString(";")
		}
		fmt.Fprintf(&line, " %s %.0f", r.Name, Median(rates[i]))
		if base[i] != i {
			fmt.Fprintf(&line, ", %s/%s median %.2fx (%.2f-%.2f)", r.Name, runs[base[i]].Name,
				Median(ratios[i]), slices.Min(ratios[i]), slices.Max(ratios[i]))
		}
	}
	b.Log(line.String())
}

// baselines returns, for each of runs, the index of its baseline: the
// first run of the same parent named raw or raw-<variant>, else the
// parent's first run.
func baselines(runs []Run) []int {
	base := make([]int, len(runs))
	for i, r := range runs {
		dir, _ := path.Split(r.Name)
		base[i] = -1
		for j, o := range runs {
			odir, leaf := path.Split(o.Name)
			if odir != dir {
				continue
			}
			if base[i] < 0 {
				base[i] = j // the parent's first
			}
			if leaf == "raw" || strings.HasPrefix(leaf, "raw-") {
				base[i] = j
				break
			}
		}
	}
	return base
}

// Once runs raw, driver and tether as sub-benchmarks of those names, once
// each, for brokers too slow for rounds (emulators). It logs the median of
// each one's runs with b.N >= 1000 (dropping the framework's probing runs),
// and driver's and tether's rates as fractions of raw; nothing when a
// sub-benchmark has no such run.
func Once(b *testing.B, raw, driver, tether func(*testing.B) float64) {
	b.Helper()
	var raws, drivers, tethers []float64
	keep := func(rates *[]float64, run func(*testing.B) float64) func(*testing.B) {
		return func(b *testing.B) {
			if rate := run(b); b.N >= 1000 {
				*rates = append(*rates, rate)
			}
		}
	}
	b.Run("raw", keep(&raws, raw))
	b.Run("driver", keep(&drivers, driver))
	b.Run("tether", keep(&tethers, tether))
	if len(raws) == 0 || len(drivers) == 0 || len(tethers) == 0 {
		return
	}
	r, d, t := Median(raws), Median(drivers), Median(tethers)
	b.Logf("median msgs/s: raw %.0f, driver %.0f (%.2fx), tether %.0f (%.2fx)", r, d, d/r, t, t/r)
}

// Option changes how Driver and Trigger measure.
type Option func(*options)

type options struct{ settled func() bool }

// Settled stops the timer once settled reports true, polled after the last
// message was handled (every half millisecond), in place of timing Close
// or Shutdown: for an input whose Close waits out something that is no
// work (a blocking read's timeout), settled asks the broker whether every
// ack arrived (nothing pending), so the run still counts every ack, as a raw
// loop's time does.
func Settled(settled func() bool) Option { return func(o *options) { o.settled = settled } }

func apply(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// waitSettled is AwaitSettled with o.settled; false without one.
func (o options) waitSettled(b *testing.B) bool {
	if o.settled == nil {
		return false
	}
	AwaitSettled(b, o.settled)
	return true
}

// AwaitSettled polls settled (every half millisecond) until it reports
// true, then stops the timer: what Settled has the runtime's runs do, for a
// raw loop whose acks leave asynchronously, so that both sides' time ends
// when the broker has every ack.
func AwaitSettled(b *testing.B, settled func() bool) {
	for !settled() {
		time.Sleep(500 * time.Microsecond)
	}
	b.StopTimer()
}

// Median of rates; 0 when there are none.
func Median(rates []float64) float64 {
	if len(rates) == 0 {
		return 0
	}
	s := slices.Clone(rates)
	slices.Sort(s)
	return s[len(s)/2]
}

// Rate reports b.N over the timed part of the run as msgs/s, and returns it.
func Rate(b *testing.B) float64 {
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	return rate
}

// Driver measures the binding without the runtime: from opening cfg's input,
// one goroutine calls Receive(batch), then Ack for each message, until b.N
// are acked, then closes the input, and returns the rate. Closing is timed
// (unless Settled says when every ack arrived): a driver that acks in the
// background (ackbatch, kgo's autocommit) sends its last acks then, and a
// raw loop's time counts all of its acks too.
func Driver(b *testing.B, cfg bindings.Config, batch int, opts ...Option) float64 {
	b.Helper()
	o := apply(opts)
	ctx := context.Background()
	b.ResetTimer()
	in, _, err := bindings.OpenInput(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	for handled := 0; handled < b.N; {
		msgs, err := in.Receive(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs {
			if err := in.Ack(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		handled += len(msgs)
	}
	o.waitSettled(b)
	if err := in.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	return Rate(b)
}

// Trigger measures the Tether runtime: from Start, a no-op handler triggered
// by set's component "in" runs until b.N messages are handled, then the
// runtime shuts down, and it returns the rate. Shutting down is timed, as
// Driver's Close is (unless Settled says when every ack arrived): the input
// sends its last acks then.
func Trigger(b *testing.B, set *component.Set, opts ...Option) float64 {
	b.Helper()
	return run(b, set, func(handled func(int)) trigger.Function {
		return trigger.Function{Name: "bench", Trigger: "in",
			Handler: func(context.Context, *bindings.Message) (trigger.Result, error) {
				handled(1)
				return trigger.Result{}, nil
			}}
	}, opts)
}

// BatchTrigger measures the Tether runtime with a batch function, as
// Trigger does with a single-message one: from Start, a no-op
// trigger.Function.BatchHandler (every item handled) triggered by set's
// component "in" runs until b.N messages are handled, then the runtime
// shuts down (timed, unless Settled), and it returns the rate. Set the
// batch size with the component's maxBatchSize (and maxBatchWait). It also
// reports the mean batch the handler got, in msgs/batch.
func BatchTrigger(b *testing.B, set *component.Set, opts ...Option) float64 {
	b.Helper()
	var calls atomic.Int64
	rate := run(b, set, func(handled func(int)) trigger.Function {
		return trigger.Function{Name: "bench", Trigger: "in",
			BatchHandler: func(_ context.Context, msgs []*bindings.Message) []error {
				calls.Add(1)
				handled(len(msgs))
				return nil
			}}
	}, opts)
	if n := calls.Load(); n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "msgs/batch")
	}
	return rate
}

// run runs the function fn returns, given what it calls with the number of
// messages it handled, until b.N are, for Trigger and BatchTrigger.
func run(b *testing.B, set *component.Set, fn func(handled func(int)) trigger.Function, opts []Option) float64 {
	b.Helper()
	o := apply(opts)
	var handled atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	count := func(k int) {
		if h := handled.Add(int64(k)); h >= n && h-int64(k) < n {
			close(done)
		}
	}
	rt, err := trigger.New(trigger.Options{Components: set, Functions: []trigger.Function{fn(count)}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := rt.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	<-done
	o.waitSettled(b)
	if err := rt.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	b.StopTimer()
	return Rate(b)
}

// BatchSizes runs tether with each of sizes as its batchSize, in rounds
// (RoundsOf, the first size the baseline), for choosing a broker's default
// batchSize (bindings.Type.DeliveryDefaults) by measurement.
func BatchSizes(b *testing.B, rounds int, sizes []int, tether func(b *testing.B, batchSize int) float64) {
	b.Helper()
	runs := make([]Run, len(sizes))
	for i, n := range sizes {
		runs[i] = Run{fmt.Sprintf("batch-%d", n), func(b *testing.B) float64 { return tether(b, n) }}
	}
	RoundsOf(b, rounds, runs...)
}

// DefaultBatchSize is the batchSize a component of type t gets when it sets
// none (its DeliveryDefaults, or the common default), for raw loops that
// read as much at once as the trigger does.
func DefaultBatchSize(t *bindings.Type) int {
	for _, k := range t.DeliveryKeys() {
		if k.Name == "batchSize" {
			n, _ := strconv.Atoi(k.Default)
			return n
		}
	}
	return bindings.DefaultDeliveryPolicy().BatchSize
}
