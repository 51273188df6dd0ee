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
	"slices"
	"sync/atomic"
	"testing"

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
	rounds = roundsOr(rounds)
	var raws, drivers, tethers, ratios []float64
	for range rounds {
		// Each sub-benchmark runs twice: once with b.N = 1 to probe, then
		// with the -benchtime count; the last run's rate is the one kept.
		var r, d, t float64
		b.Run("raw", func(b *testing.B) { r = raw(b) })
		b.Run("driver", func(b *testing.B) { d = driver(b) })
		b.Run("tether", func(b *testing.B) { t = tether(b) })
		raws, drivers, tethers = append(raws, r), append(drivers, d), append(tethers, t)
		ratios = append(ratios, t/r)
	}
	b.Logf("median msgs/s over %d rounds: raw %.0f, driver %.0f, tether %.0f; tether/raw per round: median %.2fx (%.2f)",
		rounds, Median(raws), Median(drivers), Median(tethers), Median(ratios), ratios)
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

type options struct{ timeClose bool }

// TimeClose counts closing the input (Driver) or shutting the runtime down
// (Trigger) in the run, for inputs whose Close sends the last acks or
// deletes: that is part of the work, as it is for the raw loop.
func TimeClose(o *options) { o.timeClose = true }

func apply(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
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
// are acked. It closes the input after the timer stops (before it with
// TimeClose) and returns the rate.
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
	if o.timeClose {
		if err := in.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	rate := Rate(b)
	if !o.timeClose {
		in.Close()
	}
	return rate
}

// Trigger measures the Tether runtime: from Start, a no-op handler triggered
// by set's component "in" runs until b.N messages are handled. It shuts the
// runtime down after the timer stops (before it with TimeClose), so that the
// last acks are done before the caller's cleanup removes the queue, and
// returns the rate.
func Trigger(b *testing.B, set *component.Set, opts ...Option) float64 {
	b.Helper()
	o := apply(opts)
	var handled atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	rt, err := trigger.New(trigger.Options{Components: set, Functions: []trigger.Function{{
		Name: "bench", Trigger: "in",
		Handler: func(context.Context, *bindings.Message) (trigger.Result, error) {
			if handled.Add(1) == n {
				close(done)
			}
			return trigger.Result{}, nil
		},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := rt.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	<-done
	if !o.timeClose {
		b.StopTimer()
	}
	if err := rt.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	b.StopTimer()
	return Rate(b)
}
