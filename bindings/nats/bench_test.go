package nats_test

import (
	"context"
	"errors"
	"fmt"
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

// Both consumers pull ahead the same number of messages: the driver's
// batchSize + maxConcurrency.
const (
	benchBatch       = 64
	benchConcurrency = 16
	benchPull        = benchBatch + benchConcurrency
)

var benchPayload = []byte(`{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`)

// BenchmarkTrigger compares a raw nats.go JetStream consumer loop with the
// Tether runtime on the NATS input, each consuming a stream filled beforehand
// with b.N messages through a durable pull consumer (explicit acks, 80
// messages pulled ahead). The raw loop is one goroutine: Next, then Ack. Tether
// runs a no-op handler per message on 16 workers and acks each as its handler
// returns. "driver" is the binding alone (one goroutine: Receive(64), then Ack
// each). The three run in turn, in rounds, so that changes in the machine's
// load touch them alike; each reports msgs/s, and the parent logs the medians
// and Tether's median per-round ratio to raw. Run with -benchtime 50000x
// (b.N is the messages per run).
//
//tether:bench benchtime=20000x quick=5000x
func BenchmarkTrigger(b *testing.B) {
	benchtest.Rounds(b, 7, benchRaw, benchDriver, benchTether)
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
	b.StopTimer()
	return benchtest.Rate(b)
}

func benchDriver(b *testing.B) float64 {
	stream, subject := fill(b, b.N)
	return benchtest.Driver(b, bindings.Config{Name: "driver", Type: nats.TypeName, Metadata: map[string]string{
		"natsURL": serverURL(), "stream": stream, "subject": subject,
		"batchSize": fmt.Sprint(benchBatch), "maxConcurrency": fmt.Sprint(benchConcurrency),
	}}, benchBatch)
}

func benchTether(b *testing.B) float64 {
	stream, subject := fill(b, b.N)
	set := bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.nats", map[string]string{"natsURL": serverURL(), "stream": stream, "subject": subject, "batchSize": strconv.Itoa(benchBatch), "maxConcurrency": strconv.Itoa(benchConcurrency)}))
	return benchtest.Trigger(b, set)
}
