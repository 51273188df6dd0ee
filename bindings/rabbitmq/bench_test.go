package rabbitmq_test

import (
	"fmt"
	"strconv"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/rabbitmq"
	"github.com/tetherfn/tether/internal/testkit/benchtest"
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
//
//tether:bench benchtime=10000x quick=3000x
func BenchmarkTrigger(b *testing.B) {
	benchtest.Rounds(b, 7, benchRaw, benchDriver, benchTether)
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
	return benchtest.Rate(b)
}

func benchDriver(b *testing.B) float64 {
	queue := fill(b, b.N)
	return benchtest.Driver(b, bindings.Config{Name: "driver", Type: rabbitmq.TypeName, Metadata: map[string]string{
		"host": brokerURL(), "queueName": queue,
		"batchSize": fmt.Sprint(benchBatch), "maxConcurrency": fmt.Sprint(benchConcurrency),
	}}, benchBatch)
}

func benchTether(b *testing.B) float64 {
	queue := fill(b, b.N)
	set := bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.rabbitmq", map[string]string{"host": brokerURL(), "queueName": queue, "batchSize": strconv.Itoa(benchBatch), "maxConcurrency": strconv.Itoa(benchConcurrency)}))
	return benchtest.Trigger(b, set)
}
