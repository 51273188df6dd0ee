package sqs_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/sqs"
	"github.com/tetherfn/tether/internal/testkit/benchtest"
)

var benchPayload = `{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`

// BenchmarkTrigger compares, in one run against the emulator, three
// consumers of a queue filled beforehand with b.N messages, each receiving
// ten at a time with long polling and deleting what it received:
//
//   - raw: the AWS SDK in one goroutine, ReceiveMessage then
//     DeleteMessageBatch, as a hand-written consumer does;
//   - driver: the binding without the runtime, Receive then Ack per message;
//   - tether: the runtime (16 workers) running a no-op handler per message;
//   - batch: the runtime (16 workers) running a no-op batch handler on
//     batches of ten (maxBatchSize 10), each item acked on its own: the raw
//     loop is the raw batch loop it compares with.
//
// They run in turn, in rounds, so that changes in the machine's load touch
// them alike; each reports msgs/s, and the parent logs the medians and the
// per-round ratios to raw (median and range). Run with -benchtime=5000x or
// more: the emulator is the bottleneck.
//
//tether:bench benchtime=2000x quick=1000x
func BenchmarkTrigger(b *testing.B) {
	benchtest.RoundsOf(b, 11,
		benchtest.Run{Name: "raw", F: benchRaw},
		benchtest.Run{Name: "driver", F: benchDriver},
		benchtest.Run{Name: "tether", F: benchTether},
		benchtest.Run{Name: "batch", F: benchBatch})
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
	return benchtest.Rate(b)
}

func benchDriver(b *testing.B) float64 {
	queue := fill(b, b.N)
	return benchtest.Driver(b, bindings.Config{Name: "in", Type: sqs.TypeName, Metadata: metadata(b, queue, nil)}, 10)
}

func benchTether(b *testing.B) float64 {
	queue := fill(b, b.N)
	set := bindingtest.LoadComponents(b, componentYAML(b, "in", queue, map[string]string{"batchSize": "10", "maxConcurrency": "16"}))
	rate := benchtest.Trigger(b, set)
	if d := queueDepth(b, context.Background(), queue); d != 0 {
		b.Fatalf("after the run the queue holds %d messages", d)
	}
	return rate
}

func benchBatch(b *testing.B) float64 {
	queue := fill(b, b.N)
	set := bindingtest.LoadComponents(b, componentYAML(b, "in", queue, map[string]string{"batchSize": "10", "maxBatchSize": "10", "maxConcurrency": "16"}))
	rate := benchtest.BatchTrigger(b, set)
	if d := queueDepth(b, context.Background(), queue); d != 0 {
		b.Fatalf("after the run the queue holds %d messages", d)
	}
	return rate
}
