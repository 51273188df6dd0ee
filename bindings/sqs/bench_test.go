package sqs_test

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/sqs"
	"github.com/tetherfn/tether/trigger"
)

var benchPayload = `{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`

// BenchmarkTrigger compares, in one run against the emulator, three
// consumers of a queue filled beforehand with b.N messages, each receiving
// ten at a time with long polling and deleting what it received:
//
//   - raw: the AWS SDK in one goroutine, ReceiveMessage then
//     DeleteMessageBatch, as a hand-written consumer does;
//   - driver: the binding without the runtime, Receive then Ack per message;
//   - tether: the runtime (16 workers) running a no-op handler per message.
//
// Each reports msgs/s; the parent logs the others' rates as fractions of
// raw. Run with -benchtime=5000x or more: the emulator is the bottleneck.
func BenchmarkTrigger(b *testing.B) {
	var raw, driver, tether []float64
	keep := func(rates *[]float64, b *testing.B, rate float64) {
		if b.N >= 1000 { // drop the framework's probing runs
			*rates = append(*rates, rate)
		}
	}
	b.Run("raw", func(b *testing.B) { keep(&raw, b, benchRaw(b)) })
	b.Run("driver", func(b *testing.B) { keep(&driver, b, benchDriver(b)) })
	b.Run("tether", func(b *testing.B) { keep(&tether, b, benchTether(b)) })
	if len(raw) == 0 || len(driver) == 0 || len(tether) == 0 {
		return
	}
	r, d, t := median(raw), median(driver), median(tether)
	b.Logf("median msgs/s: raw %.0f, driver %.0f (%.2fx), tether %.0f (%.2fx)", r, d, d/r, t, t/r)
}

func median(rates []float64) float64 {
	s := slices.Clone(rates)
	slices.Sort(s)
	return s[len(s)/2]
}

// fill creates a queue holding n messages and returns its name.
func fill(b *testing.B, n int) string {
	b.Helper()
	queue := newQueue(b, false, nil)
	c, url := client(b), queueURL(b, queue)
	ctx := context.Background()
	for sent := 0; sent < n; {
		req := &awssqs.SendMessageBatchInput{QueueUrl: aws.String(url)}
		for i := 0; i < 10 && sent+i < n; i++ {
			req.Entries = append(req.Entries, types.SendMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(benchPayload),
				MessageAttributes: map[string]types.MessageAttributeValue{
					"contentType": {DataType: aws.String("String"), StringValue: aws.String("application/json")},
				},
			})
		}
		out, err := c.SendMessageBatch(ctx, req)
		if err != nil || len(out.Failed) > 0 {
			b.Fatalf("fill: %v %v", err, out)
		}
		sent += len(req.Entries)
	}
	return queue
}

func benchRaw(b *testing.B) float64 {
	queue := fill(b, b.N)
	c, url := client(b), queueURL(b, queue)
	ctx := context.Background()
	b.ResetTimer()
	entries := make([]types.DeleteMessageBatchRequestEntry, 0, 10)
	for handled := 0; handled < b.N; {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 20,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			b.Fatal(err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		entries = entries[:0]
		for i, m := range out.Messages {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		del, err := c.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil || len(del.Failed) > 0 {
			b.Fatalf("delete: %v %v", err, del)
		}
		handled += len(out.Messages)
	}
	b.StopTimer()
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	return rate
}

func benchDriver(b *testing.B) float64 {
	queue := fill(b, b.N)
	ctx := context.Background()
	b.ResetTimer()
	in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "in", Type: sqs.TypeName, Metadata: metadata(b, queue, nil)})
	if err != nil {
		b.Fatal(err)
	}
	for handled := 0; handled < b.N; {
		msgs, err := in.Receive(ctx, 10)
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
	if err := in.Close(); err != nil { // sends the last deletes
		b.Fatal(err)
	}
	b.StopTimer()
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	return rate
}

func benchTether(b *testing.B) float64 {
	queue := fill(b, b.N)
	set := loadComponents(b, componentYAML(b, "in", queue, map[string]string{"batchSize": "10", "maxConcurrency": "16"}))
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
	// Shutdown closes the input, which sends the last deletes: part of the
	// work, as for the others.
	if err := rt.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	if d := queueDepth(b, context.Background(), queue); d != 0 {
		b.Fatalf("after the run the queue holds %d messages", d)
	}
	return rate
}
