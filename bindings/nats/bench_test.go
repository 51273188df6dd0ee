package nats_test

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/nats"
	"github.com/tetherfn/tether/internal/testkit/benchtest"
)

// Every consumer pulls ahead the same number of messages: the driver's
// default, batchSize + maxConcurrency, with the defaults of both.
const benchConcurrency = 16

var benchPull = benchConcurrency + benchtest.DefaultBatchSize(&nats.Type)

var benchPayload = []byte(`{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`)

// BenchmarkTrigger compares a raw nats.go JetStream consumer loop with the
// Tether runtime on the NATS input, each consuming a stream filled beforehand
// with b.N messages through a durable pull consumer (explicit acks, the
// same number of messages pulled ahead). The raw loop is one goroutine: Next,
// then Ack (JetStream acks one message at a time). Tether runs with its
// defaults, a no-op handler per message on 16 workers, acking each as its
// handler returns (one goroutine sends the acks). Every run's time ends
// when the server has nothing pending nor waiting for an ack: acks are
// published without waiting for the server, the raw loops' as the
// driver's, so the time of each counts all of its acks. "driver" is the
// binding alone (one goroutine: Receive(batchSize), then Ack each).
// "batch/raw" and "batch/tether" compare batches of benchBatchSize: a raw loop
// that fetches a batch (Fetch), takes it as a slice, then acks each message,
// and the runtime with a no-op batch handler (maxBatchSize benchBatchSize),
// each item acked on its own. All run in turn, in rounds, so that changes in
// the machine's load touch them alike; each reports msgs/s, and the parent
// logs the medians and the per-round ratios to raw (median and range).
//
//	go test -run '^$' -bench 'BenchmarkTrigger$' -benchtime 50000x -v ./bindings/nats/
//
//tether:bench benchtime=20000x quick=5000x
func BenchmarkTrigger(b *testing.B) {
	benchtest.RoundsOf(b, 11,
		benchtest.Run{Name: "raw", F: benchRaw},
		benchtest.Run{Name: "driver", F: benchDriver},
		benchtest.Run{Name: "tether", F: func(b *testing.B) float64 { return benchTether(b, nil) }},
		benchtest.Run{Name: "batch/raw", F: benchRawBatch},
		benchtest.Run{Name: "batch/tether", F: benchBatch})
}

// benchBatchSize is the batch both batch loops take at once: the type's
// default batchSize.
var benchBatchSize = benchtest.DefaultBatchSize(&nats.Type)

// benchRawBatch fetches benchBatchSize messages at a time (one pull request),
// takes the batch as a slice, then acks each message (JetStream acks one
// message at a time).
func benchRawBatch(b *testing.B) float64 {
	stream, subject := fill(b, b.N)
	settled := allAcked(b, stream)
	ctx := context.Background()
	b.ResetTimer()
	nc, err := natsgo.Connect(serverURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: subject, MaxDeliver: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]jetstream.Msg, 0, benchBatchSize)
	for handled := 0; handled < b.N; {
		fetched, err := cons.Fetch(min(benchBatchSize, b.N-handled), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
		for m := range fetched.Messages() {
			batch = append(batch, m)
		}
		for _, m := range batch { // the handler: nothing
			if len(m.Data()) == 0 {
				b.Fatal("empty message")
			}
		}
		for _, m := range batch {
			if err := m.Ack(); err != nil {
				b.Fatal(err)
			}
		}
		handled += len(batch)
	}
	benchtest.AwaitSettled(b, settled)
	return benchtest.Rate(b)
}

// BenchmarkBatchSize runs the trigger with batchSize 10 to 250, for the
// type's default (DeliveryDefaults): ratios to batchSize 10.
//
//	go test -run '^$' -bench 'BenchmarkBatchSize$' -benchtime 50000x -v ./bindings/nats/
func BenchmarkBatchSize(b *testing.B) {
	benchtest.BatchSizes(b, 5, []int{10, 50, 100, 250}, func(b *testing.B, n int) float64 {
		return benchTether(b, map[string]string{"batchSize": strconv.Itoa(n)})
	})
}

// fill creates a stream holding n messages, as create would publish them.
func fill(b *testing.B, n int) (stream, subject string) {
	b.Helper()
	name := bindingtest.Unique("bench")
	stream, subject = "TETHER_"+name, "tether."+name
	nc, err := natsgo.Connect(serverURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject}, Storage: jetstream.MemoryStorage}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { deleteStream(stream) })
	for range n {
		if _, err := js.PublishAsync(subject, benchPayload); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("filling the stream took over a minute")
	}
	return stream, subject
}

func benchRaw(b *testing.B) float64 {
	stream, subject := fill(b, b.N)
	settled := allAcked(b, stream)
	ctx := context.Background()
	b.ResetTimer()
	nc, err := natsgo.Connect(serverURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: subject, MaxDeliver: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	iter, err := cons.Messages(jetstream.PullMaxMessages(benchPull))
	if err != nil {
		b.Fatal(err)
	}
	for handled := 0; handled < b.N; {
		m, err := iter.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			b.Fatal(err)
		}
		if err != nil {
			continue // a missed heartbeat, a server status: the iterator goes on pulling
		}
		handled++
		if len(m.Data()) == 0 {
			b.Fatal("empty message")
		}
		if err := m.Ack(); err != nil {
			b.Fatal(err)
		}
	}
	iter.Stop()
	benchtest.AwaitSettled(b, settled)
	return benchtest.Rate(b)
}

func benchDriver(b *testing.B) float64 {
	stream, subject := fill(b, b.N)
	return benchtest.Driver(b, bindings.Config{Name: "driver", Type: nats.TypeName, Metadata: map[string]string{
		"natsURL": serverURL(), "stream": stream, "subject": subject,
	}}, benchtest.DefaultBatchSize(&nats.Type), acked(b, stream))
}

// benchBatch is the runtime with a no-op batch handler, in batches of
// benchBatchSize (its batchSize, the type's default, is as many).
func benchBatch(b *testing.B) float64 {
	stream, subject := fill(b, b.N)
	md := map[string]string{"natsURL": serverURL(), "stream": stream, "subject": subject, "maxBatchSize": strconv.Itoa(benchBatchSize)}
	return benchtest.BatchTrigger(b, bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.nats", md)), acked(b, stream))
}

func benchTether(b *testing.B, delivery map[string]string) float64 {
	stream, subject := fill(b, b.N)
	md := map[string]string{"natsURL": serverURL(), "stream": stream, "subject": subject}
	maps.Copy(md, delivery)
	return benchtest.Trigger(b, bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.nats", md)), acked(b, stream))
}

// acked is the benchmarks' Settled: true once the stream's consumers have
// nothing waiting for an ack nor to be delivered (every ack arrived).
func acked(b *testing.B, stream string) benchtest.Option {
	return benchtest.Settled(allAcked(b, stream))
}

// allAcked reports whether the stream's consumers have nothing waiting for
// an ack nor to be delivered. The raw loops wait for it too
// (benchtest.AwaitSettled): their acks, like the driver's, are published
// without waiting for the server.
func allAcked(b *testing.B, stream string) func() bool {
	nc, err := natsgo.Connect(serverURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	return func() bool {
		s, err := js.Stream(context.Background(), stream)
		if err != nil {
			b.Fatal(err)
		}
		for c := range s.ListConsumers(context.Background()).Info() {
			if c.NumAckPending > 0 || c.NumPending > 0 {
				return false
			}
		}
		return true
	}
}
