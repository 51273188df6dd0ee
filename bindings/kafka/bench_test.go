package kafka_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/kafka"
	"github.com/tetherfn/tether/internal/benchtest"
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

// BenchmarkInput compares, in one run, a Tether trigger on a Kafka input
// (receive, dispatch through the delivery middleware to a no-op handler,
// ack, commit) with a bare franz-go loop doing the same poll and commit
// (poll, mark each record, autocommit the marks) on kfake. The records are
// written before the timer starts; joining the group is timed in both.
//
//	go test -run '^$' -bench BenchmarkInput -benchtime 200000x ./bindings/kafka/
func BenchmarkInput(b *testing.B) {
	b.Run("kgo-loop", benchRawLoop)
	b.Run("driver-loop", benchDriverLoop)
	for _, c := range []struct {
		name string
		md   map[string]string
	}{
		{"tether", map[string]string{"maxConcurrency": "16", "batchSize": "64"}},
		{"tether-ordered", map[string]string{"maxConcurrency": "16", "batchSize": "64", "ordered": "true"}},
	} {
		b.Run(c.name, func(b *testing.B) { benchTrigger(b, c.md) })
	}
}

const benchPartitions = 8

func benchRawLoop(b *testing.B) {
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
	defer cl.Close()
	ctx := context.Background()
	for seen := 0; seen < b.N; {
		recs := cl.PollRecords(ctx, 64).Records()
		for range recs {
			seen++ // the handler: nothing
		}
		cl.MarkCommitRecords(recs...)
		cl.AllowRebalance()
	}
	b.StopTimer()
	benchtest.Rate(b)
}

// benchDriverLoop is the binding without the runtime: Receive, Ack.
func benchDriverLoop(b *testing.B) {
	topic := newTopic(b, "bench", benchPartitions)
	fill(b, topic, b.N)
	b.ReportAllocs()
	benchtest.Driver(b, bindings.Config{Name: "in", Type: kafka.TypeName, Metadata: map[string]string{
		"brokers": brokers(b), "topics": topic, "consumerGroup": topic, "initialOffset": "oldest", "batchSize": "64",
	}}, 64)
}

func benchTrigger(b *testing.B, delivery map[string]string) {
	topic := newTopic(b, "bench", benchPartitions)
	fill(b, topic, b.N)
	md := map[string]string{"brokers": brokers(b), "topics": topic, "consumerGroup": topic, "initialOffset": "oldest", "direction": "input"}
	for k, v := range delivery {
		md[k] = v
	}
	set := bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.kafka", md))
	var handled atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	startRuntime(b, set, trigger.Function{Name: "bench", Trigger: "in",
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
	b.StopTimer()
	benchtest.Rate(b)
}
