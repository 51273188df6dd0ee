package rabbitmq_test

import (
	"fmt"
	"maps"
	"strconv"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/rabbitmq"
	"github.com/tetherfn/tether/internal/testkit/benchtest"
)

// Every consumer gets the same prefetch: the driver's default,
// maxConcurrency + batchSize, with the defaults of both.
const benchConcurrency = 16

var benchPrefetch = benchConcurrency + benchtest.DefaultBatchSize(&rabbitmq.Type)

var benchPayload = []byte(`{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`)

// BenchmarkTrigger compares two raw amqp091 consumer loops with the Tether
// runtime on the RabbitMQ input, each consuming a queue filled beforehand
// with b.N messages, with manual acks and the same prefetch. The raw loops
// are one goroutine ranging over the deliveries: "raw" acks each delivery
// on its own, "raw-multiple" acks with one multiple ack every half prefetch
// (and the last delivery): the fair baseline for Tether, whose driver sends
// multiple acks too (here about one frame per five messages). Tether runs with its defaults and a no-op handler on 16
// workers; the last acks are sent by Shutdown, which is timed, as closing
// their connection is in the raw loops' time. "driver" is the binding alone
// (one goroutine: Receive(batchSize), then Ack each). They run in turn, in
// rounds, so that changes in the machine's load touch them alike; each
// reports msgs/s, and the parent logs the medians and each one's per-round
// ratio to raw-multiple (median and range).
// "batch/raw" and "batch/tether" compare batches of benchBatchSize, with a
// prefetch of benchBatchSize + 16 both: a raw loop that takes what was
// delivered, up to a batch, as a slice, then acks it with one multiple ack,
// and the runtime with a no-op batch handler (batchSize and maxBatchSize
// benchBatchSize), each item acked on its own (the driver sends multiple
// acks under load).
//
//	go test -run '^$' -bench 'BenchmarkTrigger$' -benchtime 20000x -v ./bindings/rabbitmq/
//
//tether:bench benchtime=10000x quick=3000x
func BenchmarkTrigger(b *testing.B) {
	benchtest.RoundsOf(b, 11,
		benchtest.Run{Name: "raw-multiple", F: func(b *testing.B) float64 { return benchRaw(b, true) }},
		benchtest.Run{Name: "raw", F: func(b *testing.B) float64 { return benchRaw(b, false) }},
		benchtest.Run{Name: "driver", F: benchDriver},
		benchtest.Run{Name: "tether", F: func(b *testing.B) float64 { return benchTether(b, nil) }},
		benchtest.Run{Name: "batch/raw", F: benchRawBatch},
		benchtest.Run{Name: "batch/tether", F: benchBatch})
}

// benchBatchSize is the batch of the batch loops.
const benchBatchSize = 100

// benchRawBatch waits for a delivery, takes those delivered meanwhile, up to
// benchBatchSize, as a slice, and acks the slice with one multiple ack of
// its last, with a prefetch of benchBatchSize + 16 (as the runtime's).
func benchRawBatch(b *testing.B) float64 {
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
	if err := ch.Qos(benchBatchSize+benchConcurrency, 0, false); err != nil {
		b.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]amqp.Delivery, 0, benchBatchSize)
	for handled := 0; handled < b.N; {
		batch = append(batch[:0], <-deliveries)
	more:
		for len(batch) < benchBatchSize {
			select {
			case d := <-deliveries:
				batch = append(batch, d)
			default:
				break more
			}
		}
		for _, d := range batch { // the handler: nothing
			if len(d.Body) == 0 {
				b.Fatal("empty message")
			}
		}
		if err := batch[len(batch)-1].Ack(true); err != nil {
			b.Fatal(err)
		}
		handled += len(batch)
	}
	closeTimed(b, conn)
	return benchtest.Rate(b)
}

// benchBatch is the runtime with a no-op batch handler, in batches of
// benchBatchSize.
func benchBatch(b *testing.B) float64 {
	queue := fill(b, b.N)
	n := strconv.Itoa(benchBatchSize)
	md := map[string]string{"host": brokerURL(), "queueName": queue, "batchSize": n, "maxBatchSize": n}
	return benchtest.BatchTrigger(b, bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.rabbitmq", md)))
}

// BenchmarkBatchSize runs the trigger with batchSize 10 to 250, for the
// type's default (DeliveryDefaults): ratios to batchSize 10.
//
//	go test -run '^$' -bench 'BenchmarkBatchSize$' -benchtime 20000x -v ./bindings/rabbitmq/
func BenchmarkBatchSize(b *testing.B) {
	benchtest.BatchSizes(b, 5, []int{10, 50, 100, 250}, func(b *testing.B, n int) float64 {
		return benchTether(b, map[string]string{"batchSize": strconv.Itoa(n)})
	})
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

func benchRaw(b *testing.B, multiple bool) float64 {
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
	unacked := 0
	for i := range b.N {
		d := <-deliveries
		if len(d.Body) == 0 {
			b.Fatal("empty message")
		}
		unacked++
		if multiple && unacked < benchPrefetch/2 && i < b.N-1 {
			continue // ack this one with a later multiple ack
		}
		if err := d.Ack(multiple); err != nil {
			b.Fatal(err)
		}
		unacked = 0
	}
	closeTimed(b, conn)
	return benchtest.Rate(b)
}

// closeTimed closes a raw loop's connection, then stops the timer: the
// close handshake comes after the broker took the acks sent before it, and
// the runtime's time counts its Shutdown, which closes its connection.
func closeTimed(b *testing.B, conn *amqp.Connection) {
	if err := conn.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

func benchDriver(b *testing.B) float64 {
	queue := fill(b, b.N)
	return benchtest.Driver(b, bindings.Config{Name: "driver", Type: rabbitmq.TypeName, Metadata: map[string]string{
		"host": brokerURL(), "queueName": queue,
	}}, benchtest.DefaultBatchSize(&rabbitmq.Type))
}

func benchTether(b *testing.B, delivery map[string]string) float64 {
	queue := fill(b, b.N)
	md := map[string]string{"host": brokerURL(), "queueName": queue}
	maps.Copy(md, delivery)
	return benchtest.Trigger(b, bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.rabbitmq", md)))
}
