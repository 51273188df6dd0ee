package kafka_test

import (
	"context"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/bindings/kafka"
	"github.com/tetherfn/tether/internal/testkit/benchtest"
	"github.com/tetherfn/tether/trigger"
)

var benchPayload = []byte(`{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`)

// fill writes n records spread over the topic's partitions, as fast as the
// producer batches them.
func fill(b *testing.B, topic string, n int) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers(b)), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	var failed atomic.Value
	for range n {
		cl.Produce(ctx, &kgo.Record{Value: benchPayload}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkTrigger compares, in rounds (internal/testkit/benchtest), a bare
// franz-go loop (poll 64, mark them, autocommit the marks: nothing per
// record), a franz-go loop with the trigger's guarantees ("raw-workers",
// benchWorkersLoop: 16 workers, no record committed before its handler
// returns; the fair baseline, where the target is against the bare
// loop), the driver alone (Receive 64, Ack each) and a Tether trigger with
// its defaults (16 workers, the type's batchSize, a no-op handler, each
// message acked as its handler returns), each reading b.N records written
// before its timer starts to a new 8-partition topic of the package's kfake
// cluster, which runs in a process of its own as every other broker does
// (startBrokerProcess). Joining the group is timed in all, and so are the last
// commit and leaving the group (the loops' CommitMarkedOffsets and Close,
// the driver's Close, the runtime's Shutdown). "batch" is the runtime with
// a no-op batch handler taking batches of what the bare loop polls
// (maxBatchSize 64), each record acked on its own (the commit moves over
// each partition's acked prefix). The ratios are to each baseline, per
// round (median and range).
//
//	go test -run '^$' -bench 'BenchmarkTrigger$' -benchtime 200000x -v ./bindings/kafka/
//
// It runs 15 rounds where the other brokers' run 7 to 11: a run is short
// (the bare loop's takes 30 to 50 ms, joining the group included) and the
// rounds' ratios range over a factor of two or more.
//
//tether:bench benchtime=100000x quick=20000x
func BenchmarkTrigger(b *testing.B) {
	benchtest.RoundsOf(b, 15,
		benchtest.Run{Name: "raw", F: benchRawLoop},
		benchtest.Run{Name: "raw-workers", F: benchWorkersLoop},
		benchtest.Run{Name: "driver", F: benchDriverLoop},
		benchtest.Run{Name: "tether", F: func(b *testing.B) float64 { return benchTrigger(b, nil) }},
		benchtest.Run{Name: "batch", F: func(b *testing.B) float64 { return benchBatch(b, nil) }})
}

// benchPoll is what the bare loop polls at once, and the batch function's
// maxBatchSize.
const benchPoll = 64

// BenchmarkBatchSize runs the trigger with batchSize 10 to 250, for the
// type's default (DeliveryDefaults): ratios to batchSize 10.
//
//	go test -run '^$' -bench 'BenchmarkBatchSize$' -benchtime 200000x -v ./bindings/kafka/
func BenchmarkBatchSize(b *testing.B) {
	benchtest.BatchSizes(b, 5, []int{10, 50, 100, 250}, func(b *testing.B, n int) float64 {
		return benchTrigger(b, map[string]string{"batchSize": strconv.Itoa(n)})
	})
}

// BenchmarkInput runs each consumer once, the bare loop's hand-written
// counterpart with the trigger's guarantees (kgo-workers) and the ordered
// trigger included, for a look at where the time goes.
//
//	go test -run '^$' -bench BenchmarkInput -benchtime 200000x ./bindings/kafka/
func BenchmarkInput(b *testing.B) {
	run := func(f func(*testing.B) float64) func(*testing.B) { return func(b *testing.B) { f(b) } }
	b.Run("kgo-loop", run(benchRawLoop))
	b.Run("kgo-workers", run(benchWorkersLoop))
	b.Run("driver-loop", run(benchDriverLoop))
	for _, c := range []struct {
		name string
		md   map[string]string
	}{
		{"tether", nil},
		{"tether-ordered", map[string]string{"ordered": "true"}},
	} {
		b.Run(c.name, run(func(b *testing.B) float64 { return benchTrigger(b, c.md) }))
	}
}

const benchPartitions = 8

// rawConsumer fills a new topic with b.N records, starts the timer and
// returns a franz-go group consumer of it, configured as the driver's.
func rawConsumer(b *testing.B) *kgo.Client {
	topic := newTopic(b, "bench", benchPartitions)
	fill(b, topic, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers(b)), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(), kgo.AutoCommitInterval(time.Second), kgo.FetchMaxWait(250*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// benchRawLoop polls 64 records at a time, marks them for kgo's autocommit
// (each second) and, at the end, commits what is marked and leaves the
// group, as the driver's Close does: both sides' time counts their last
// commit.
func benchRawLoop(b *testing.B) float64 {
	cl := rawConsumer(b)
	ctx := context.Background()
	for seen := 0; seen < b.N; {
		recs := cl.PollRecords(ctx, benchPoll).Records()
		for range recs {
			seen++ // the handler: nothing
		}
		cl.MarkCommitRecords(recs...)
		cl.AllowRebalance()
	}
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		b.Fatal(err)
	}
	cl.CloseAllowingRebalance()
	b.StopTimer()
	return benchtest.Rate(b)
}

// benchWorkersLoop is a hand-written franz-go consumer with the trigger's
// guarantees, the way franz-go's documentation suggests for concurrent
// handling: the poll loop hands each record to one of 16 workers, a worker
// acks its record when its (no-op) handler returns, and a partition's commit
// mark moves only over its contiguous prefix of acked records, so that a
// commit never passes a record still being handled.
func benchWorkersLoop(b *testing.B) float64 {
	cl := rawConsumer(b)

	type window struct {
		recs []*kgo.Record // polled, from the commit mark on, in offset order
		done []bool
	}
	var mu sync.Mutex
	windows := map[int32]*window{}
	work := make(chan *kgo.Record, 64)
	var handled atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for r := range work {
				handled.Add(1) // the handler: nothing
				mu.Lock()
				w := windows[r.Partition]
				w.done[r.Offset-w.recs[0].Offset] = true
				n := 0
				for n < len(w.done) && w.done[n] {
					n++
				}
				if n > 0 {
					cl.MarkCommitRecords(w.recs[n-1])
					w.recs, w.done = w.recs[n:], w.done[n:]
				}
				mu.Unlock()
			}
		})
	}
	ctx := context.Background()
	for polled := 0; polled < b.N; {
		recs := cl.PollRecords(ctx, benchPoll).Records()
		mu.Lock()
		for _, r := range recs {
			w := windows[r.Partition]
			if w == nil {
				w = &window{}
				windows[r.Partition] = w
			}
			w.recs, w.done = append(w.recs, r), append(w.done, false)
		}
		mu.Unlock()
		cl.AllowRebalance()
		for _, r := range recs {
			work <- r
		}
		polled += len(recs)
	}
	close(work)
	wg.Wait()
	// The last commit and leaving the group, timed as the others' are.
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		b.Fatal(err)
	}
	cl.CloseAllowingRebalance()
	b.StopTimer()
	if handled.Load() != int64(b.N) {
		b.Fatalf("handled %d of %d", handled.Load(), b.N)
	}
	return benchtest.Rate(b)
}

// benchDriverLoop is the binding without the runtime: Receive, Ack.
func benchDriverLoop(b *testing.B) float64 {
	topic := newTopic(b, "bench", benchPartitions)
	fill(b, topic, b.N)
	b.ReportAllocs()
	return benchtest.Driver(b, bindings.Config{Name: "in", Type: kafka.TypeName, Metadata: map[string]string{
		"brokers": brokers(b), "topics": topic, "consumerGroup": topic, "initialOffset": "oldest", "batchSize": "64",
	}}, 64)
}

// benchComponents fills a new topic with b.N records and returns the
// components of an input "in" reading it, with delivery's keys.
func benchComponents(b *testing.B, delivery map[string]string) *component.Set {
	topic := newTopic(b, "bench", benchPartitions)
	fill(b, topic, b.N)
	md := map[string]string{"brokers": brokers(b), "topics": topic, "consumerGroup": topic, "initialOffset": "oldest", "direction": "input"}
	maps.Copy(md, delivery)
	return bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.kafka", md))
}

// benchBatch is the runtime with a no-op batch handler, in batches of what
// the bare loop polls; Shutdown (the last commit, leaving the group) is
// timed.
func benchBatch(b *testing.B, delivery map[string]string) float64 {
	md := map[string]string{"maxBatchSize": strconv.Itoa(benchPoll)}
	maps.Copy(md, delivery)
	set := benchComponents(b, md)
	b.ReportAllocs()
	return benchtest.BatchTrigger(b, set)
}

func benchTrigger(b *testing.B, delivery map[string]string) float64 {
	set := benchComponents(b, delivery)
	var handled atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	rt := startRuntime(b, set, trigger.Function{Name: "bench", Trigger: "in",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			if handled.Add(1) == target {
				close(done)
			}
			return trigger.Result{}, nil
		}})
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("handled %d of %d", handled.Load(), b.N)
	}
	// Shutting down commits the last acks and leaves the group, as the raw
	// loop's end does: timed.
	if err := rt.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	return benchtest.Rate(b)
}
