package nats_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	components "github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/bindings/nats"
	"github.com/tetherfn/tether/trigger"
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
func BenchmarkTrigger(b *testing.B) {
	const rounds = 7
	var raw, driver, tether, ratio []float64
	for range rounds {
		// Each sub-benchmark runs twice: once with b.N = 1 to probe, then
		// with the -benchtime count; the last run's rate is the one kept.
		var r, d, t float64
		b.Run("raw", func(b *testing.B) { r = benchRaw(b) })
		b.Run("driver", func(b *testing.B) { d = benchDriver(b) })
		b.Run("tether", func(b *testing.B) { t = benchTether(b) })
		raw, driver, tether = append(raw, r), append(driver, d), append(tether, t)
		ratio = append(ratio, t/r)
	}
	b.Logf("median msgs/s over %d rounds: raw %.0f, driver %.0f, tether %.0f; tether/raw per round: median %.2fx (%.2f)",
		rounds, median(raw), median(driver), median(tether), median(ratio), ratio)
}

func median(rates []float64) float64 {
	s := slices.Clone(rates)
	slices.Sort(s)
	return s[len(s)/2]
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
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject}}); err != nil {
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
		if errors.Is(err, jetstream.ErrNoHeartbeat) {
			continue // late under load; the iterator goes on pulling
		}
		if err != nil {
			b.Fatal(err)
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
	return report(b)
}

func benchDriver(b *testing.B) float64 {
	stream, subject := fill(b, b.N)
	ctx := context.Background()
	b.ResetTimer()
	in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "driver", Type: nats.TypeName, Metadata: map[string]string{
		"natsURL": serverURL(), "stream": stream, "subject": subject,
		"batchSize": fmt.Sprint(benchBatch), "maxConcurrency": fmt.Sprint(benchConcurrency),
	}})
	if err != nil {
		b.Fatal(err)
	}
	for handled := 0; handled < b.N; {
		msgs, err := in.Receive(ctx, benchBatch)
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
	b.StopTimer()
	rate := report(b)
	in.Close()
	return rate
}

func benchTether(b *testing.B) float64 {
	stream, subject := fill(b, b.N)
	set := benchComponents(b, fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: in
spec:
  type: bindings.nats
  version: v1
  metadata:
  - {name: natsURL, value: %q}
  - {name: stream, value: %q}
  - {name: subject, value: %q}
  - {name: batchSize, value: "%d"}
  - {name: maxConcurrency, value: "%d"}
`, serverURL(), stream, subject, benchBatch, benchConcurrency))
	var handled atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	rt, err := trigger.New(trigger.Options{Components: set, Functions: []trigger.Function{{
		Name: "bench", Trigger: "in",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
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
	b.StopTimer()
	rate := report(b)
	if err := rt.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	return rate
}

func report(b *testing.B) float64 {
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	return rate
}

func benchComponents(b *testing.B, yaml string) *components.Set {
	b.Helper()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.yaml"), []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	set, err := components.Load([]string{dir}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return set
}
