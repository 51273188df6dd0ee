package sqsemu_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tetherfn/tether/internal/emulate/sqsemu"
)

func newClient(t *testing.T) *sqs.Client {
	t.Helper()
	srv, err := sqsemu.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})
}

func mustCreate(t *testing.T, c *sqs.Client, name string, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.QueueUrl)
}

// TestLongPollWakes: a long poll returns a message sent while it waits. Its
// context ends long before its wait would, so only the send can answer it.
func TestLongPollWakes(t *testing.T) {
	c := newClient(t)
	q := mustCreate(t, c, "wake", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan *sqs.ReceiveMessageOutput, 1)
	errs := make(chan error, 1)
	go func() {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 20})
		if err != nil {
			errs <- err
			return
		}
		got <- out
	}()
	// Sending before the poll starts waiting is fine too: it then finds
	// the message at once.
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("hi")}); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-got:
		if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "hi" {
			t.Fatalf("long poll returned %+v, want the message", out.Messages)
		}
	case err := <-errs:
		t.Fatalf("long poll: %v (it was not woken by the send)", err)
	}
}

// TestVisibilityTimeoutReturns: a message whose visibility timeout runs
// out comes back to a long poll under way, counted twice.
func TestVisibilityTimeoutReturns(t *testing.T) {
	c := newClient(t)
	q := mustCreate(t, c, "vis", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	first, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), VisibilityTimeout: 1})
	if err != nil || len(first.Messages) != 1 {
		t.Fatalf("first receive: %v %v", first, err)
	}
	again, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 10,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
	if err != nil || len(again.Messages) != 1 {
		t.Fatalf("receive after the visibility timeout: %v %v", again, err)
	}
	if n := again.Messages[0].Attributes["ApproximateReceiveCount"]; n != "2" {
		t.Errorf("ApproximateReceiveCount %s, want 2", n)
	}
	if aws.ToString(again.Messages[0].ReceiptHandle) == aws.ToString(first.Messages[0].ReceiptHandle) {
		t.Error("the second receive reused the first receipt handle")
	}
}

// TestFIFOBatchPerGroup: one receive returns several messages of a group,
// in order, and a group stays locked until all of them are settled.
func TestFIFOBatchPerGroup(t *testing.T) {
	c := newClient(t)
	q := mustCreate(t, c, "groups.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	ctx := context.Background()
	for _, b := range []string{"a1", "b1", "a2", "a3"} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(b), MessageGroupId: aws.String(b[:1])}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 3})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range out.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
	}
	if strings.Join(bodies, " ") != "a1 b1 a2" {
		t.Fatalf("received %v, want [a1 b1 a2]", bodies)
	}
	// a3 waits behind a1 and a2, which are in flight.
	if more, _ := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10}); len(more.Messages) != 0 {
		t.Fatalf("received %d more while group a is in flight, want 0", len(more.Messages))
	}
	for _, m := range out.Messages {
		if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	last, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10})
	if err != nil || len(last.Messages) != 1 || aws.ToString(last.Messages[0].Body) != "a3" {
		t.Fatalf("after deleting the group's messages: %v %v, want a3", last, err)
	}
}

// TestConcurrentConsumers: messages sent and received by several clients
// at once are each received once while nobody gives them back.
func TestConcurrentConsumers(t *testing.T) {
	c := newClient(t)
	q := mustCreate(t, c, "many", map[string]string{"VisibilityTimeout": "300"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 500
	var wg sync.WaitGroup
	for p := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n / 5 {
				if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(fmt.Sprint(p, "-", i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var mu sync.Mutex
	seen := map[string]int{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				done := len(seen) == n
				mu.Unlock()
				if done || ctx.Err() != nil {
					return
				}
				out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					return
				}
				mu.Lock()
				for _, m := range out.Messages {
					seen[aws.ToString(m.Body)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("received %d distinct messages, want %d", len(seen), n)
	}
	for b, k := range seen {
		if k != 1 {
			t.Errorf("message %s received %d times", b, k)
		}
	}
}

// TestNotSQS: a request that is not of the JSON protocol gets a clear
// error, not a panic.
func TestNotSQS(t *testing.T) {
	srv, err := sqsemu.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, req := range []struct{ method, target, body string }{
		{"GET", "", ""},
		{"POST", "AmazonSQS.NoSuchAction", "{}"},
		{"POST", "AmazonSQS.SendMessage", "{not json"},
	} {
		r, _ := http.NewRequest(req.method, srv.URL(), strings.NewReader(req.body))
		r.Header.Set("X-Amz-Target", req.target)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Amzn-Query-Error") == "" {
			t.Errorf("%s %q: status %d, query error %q; want 400 with a code", req.method, req.target, resp.StatusCode, resp.Header.Get("X-Amzn-Query-Error"))
		}
	}
}
