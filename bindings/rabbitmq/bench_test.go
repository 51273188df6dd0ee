package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	components "github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/bindings/rabbitmq"
	"github.com/tetherfn/tether/trigger"
)

// Both consumers get the same prefetch: the driver's default,
// maxConcurrency + batchSize.
const (
	benchBatch       = 64
	benchConcurrency = 16
	benchPrefetch    = benchBatch + benchConcurrency
)

var benchPayload = []byte(`{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`)

// BenchmarkTrigger compares a raw amqp091 consumer loop with the Tether
// runtime on the RabbitMQ input, each consuming a queue filled beforehand
// with b.N messages, with manual acks and a prefetch of 80. The raw loop is
// one goroutine ranging over the deliveries and acking each. Tether runs a
// no-op handler per message on 16 workers and acks each as its handler
// returns. "driver" is the binding alone (one goroutine: Receive(64), then
// Ack each). The three run in turn, in rounds, so that changes in the
// machine's load touch them alike; each reports msgs/s, and the parent logs
// the medians and Tether's median per-round ratio to raw. Run with
// -benchtime 50000x (b.N is the messages per run).
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

// fill declares a queue (as the binding does with its defaults) holding n
// messages.
func fill(b *testing.B, n int) string {
	b.Helper()
	queue := bindingtest.Unique("bench")
	conn, err := amqp.Dial(brokerURL())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, false, false, false, false, amqp.Table{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		withRaw(b, func(ch *amqp.Channel) error { _, err := ch.QueueDelete(queue, false, false, false); return err })
	})
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	var last *amqp.DeferredConfirmation
	for i := range n {
		last, err = ch.PublishWithDeferredConfirm("", queue, false, false, amqp.Publishing{
			Body: benchPayload, ContentType: "application/json", MessageId: fmt.Sprint(i),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if last != nil && !last.Wait() {
		b.Fatal("broker did not confirm the fill")
	}
	return queue
}

func benchRaw(b *testing.B) float64 {
	queue := fill(b, b.N)
	b.ResetTimer()
	conn, err := amqp.Dial(brokerURL())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.Qos(benchPrefetch, 0, false); err != nil {
		b.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		d := <-deliveries
		if len(d.Body) == 0 {
			b.Fatal("empty message")
		}
		if err := d.Ack(false); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	return report(b)
}

func benchDriver(b *testing.B) float64 {
	queue := fill(b, b.N)
	ctx := context.Background()
	b.ResetTimer()
	in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "driver", Type: rabbitmq.TypeName, Metadata: map[string]string{
		"host": brokerURL(), "queueName": queue,
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
	queue := fill(b, b.N)
	set := benchComponents(b, fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: in
spec:
  type: bindings.rabbitmq
  version: v1
  metadata:
  - {name: host, value: %q}
  - {name: queueName, value: %q}
  - {name: batchSize, value: "%d"}
  - {name: maxConcurrency, value: "%d"}
`, brokerURL(), queue, benchBatch, benchConcurrency))
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
