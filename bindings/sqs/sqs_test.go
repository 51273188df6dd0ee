package sqs_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/sqs"
)

func openInput(t *testing.T, ctx context.Context, md map[string]string) bindings.Input {
	t.Helper()
	in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "in", Type: sqs.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("OpenInput: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func openOutput(t *testing.T, ctx context.Context, md map[string]string) bindings.Output {
	t.Helper()
	out, _, err := bindings.OpenOutput(ctx, bindings.Config{Name: "out", Type: sqs.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("OpenOutput: %v", err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

func create(t *testing.T, ctx context.Context, out bindings.Output, data string, md map[string]string) *bindings.InvokeResponse {
	t.Helper()
	resp, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte(data), Metadata: md})
	if err != nil {
		t.Fatalf("create %q: %v", data, err)
	}
	return resp
}

// receiveOne receives until one message arrives and fails unless it is the
// only one.
func receiveOne(t *testing.T, ctx context.Context, in bindings.Input) *bindings.Message {
	t.Helper()
	msgs, err := in.Receive(ctx, 10)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

// receiveSingle receives exactly one message, asking for one: a FIFO
// receive hands out several messages of a group at once when asked for
// more.
func receiveSingle(t *testing.T, ctx context.Context, in bindings.Input) *bindings.Message {
	t.Helper()
	msgs, err := in.Receive(ctx, 1)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

// queueDepth is what the queue holds: visible, in flight and delayed.
func queueDepth(t testing.TB, ctx context.Context, queue string) int {
	t.Helper()
	out, err := client(t).GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL(t, queue)),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range out.Attributes {
		k, _ := strconv.Atoi(v)
		n += k
	}
	return n
}

// TestForeignProducer receives a message sent by another SQS client: every
// kind of message attribute and the system attributes arrive as metadata.
func TestForeignProducer(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, false, nil)
	in := openInput(t, ctx, metadata(t, queue, nil))
	before := time.Now().Add(-time.Second)
	sent, err := client(t).SendMessage(ctx, &awssqs.SendMessageInput{
		QueueUrl:    aws.String(queueURL(t, queue)),
		MessageBody: aws.String(`{"order":1}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"tenant":      {DataType: aws.String("String"), StringValue: aws.String("acme")},
			"amount":      {DataType: aws.String("Number"), StringValue: aws.String("12.5")},
			"signature":   {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 0xff}},
			"contentType": {DataType: aws.String("String"), StringValue: aws.String("application/json")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := receiveOne(t, ctx, in)
	if m.ID != aws.ToString(sent.MessageId) || string(m.Data) != `{"order":1}` || m.ContentType != "application/json" {
		t.Errorf("ID, Data, ContentType = %q, %q, %q; want %q, the body, application/json", m.ID, m.Data, m.ContentType, aws.ToString(sent.MessageId))
	}
	want := map[string]string{"tenant": "acme", "amount": "12.5", "signature": base64.StdEncoding.EncodeToString([]byte{0, 1, 0xff}), "ApproximateReceiveCount": "1"}
	for k, v := range want {
		if m.Metadata[k] != v {
			t.Errorf("metadata %q = %q, want %q (all: %v)", k, m.Metadata[k], v, m.Metadata)
		}
	}
	for _, k := range []string{"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} {
		if m.Metadata[k] == "" {
			t.Errorf("system attribute %s missing from metadata %v", k, m.Metadata)
		}
	}
	if _, ok := m.Metadata["contentType"]; ok {
		t.Errorf("contentType is Message.ContentType, not metadata: %v", m.Metadata)
	}
	if m.DeliveryCount != 1 || m.Time.Before(before) || m.Time.After(time.Now()) {
		t.Errorf("DeliveryCount, Time = %d, %v; want 1 and the send time", m.DeliveryCount, m.Time)
	}
	if err := in.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
}

// TestBodies sends payloads SQS cannot carry as text and checks that a
// foreign consumer sees text bodies unchanged and binary ones marked, while
// a Tether input gets every payload back byte for byte.
func TestBodies(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, false, nil)
	out := openOutput(t, ctx, metadata(t, queue, nil))
	payloads := map[string]bool{ // payload → sent as text
		"beyond U+FFFF: \U0001F600": true,
		`{"a":"ünï ✓ €"}`:           true,
		"tab\tnewline\ncr\r":        true,
		"nul\x00":                   false,
		"bell\x07":                  false,
		"\xff\xfe invalid utf-8":    false,
		"\xef\xbf\xbe (U+FFFE)":     false,
		"\xed\xa0\x80 (surrogate)":  false,
	}
	for p := range payloads {
		create(t, ctx, out, p, nil)
	}
	raw, err := client(t).ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
		QueueUrl: aws.String(queueURL(t, queue)), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"},
		VisibilityTimeout: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw.Messages) != len(payloads) {
		t.Fatalf("raw receive got %d messages, want %d", len(raw.Messages), len(payloads))
	}
	for _, rm := range raw.Messages {
		body := aws.ToString(rm.Body)
		_, marked := rm.MessageAttributes["contentTransferEncoding"]
		if payloads[body] {
			if marked {
				t.Errorf("text body %q is marked as base64", body)
			}
			continue
		}
		decoded, err := base64.StdEncoding.DecodeString(body)
		if err != nil || !marked || payloads[string(decoded)] {
			t.Errorf("body %q: want the base64 of a binary payload, marked contentTransferEncoding (marked: %v)", body, marked)
		}
	}

	in := openInput(t, ctx, metadata(t, queue, nil))
	got := map[string]bool{}
	for len(got) < len(payloads) {
		msgs, err := in.Receive(ctx, 10)
		if err != nil {
			t.Fatalf("Receive: %v (have %d of %d)", err, len(got), len(payloads))
		}
		for _, m := range msgs {
			if _, ok := payloads[string(m.Data)]; !ok || got[string(m.Data)] {
				t.Errorf("unexpected payload %q", m.Data)
			}
			if _, ok := m.Metadata["contentTransferEncoding"]; ok {
				t.Errorf("payload %q: the encoding mark is in the metadata", m.Data)
			}
			got[string(m.Data)] = true
			if err := in.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestCreateRules checks what create refuses before anything is sent.
func TestCreateRules(t *testing.T) {
	ctx := testContext(t)
	std := openOutput(t, ctx, metadata(t, newQueue(t, false, nil), nil))
	fifo := openOutput(t, ctx, metadata(t, newQueue(t, true, nil), nil))
	eleven := map[string]string{}
	for i := range 11 {
		eleven[fmt.Sprintf("k%d", i)] = "v"
	}
	nine := map[string]string{}
	for i := range 9 {
		nine[fmt.Sprintf("k%d", i)] = "v"
	}
	cases := []struct {
		name string
		out  bindings.Output
		req  bindings.InvokeRequest
		want string
	}{
		{"empty body", std, bindings.InvokeRequest{}, "empty message body"},
		{"eleven attributes", std, bindings.InvokeRequest{Data: []byte("x"), Metadata: eleven}, "at most 10"},
		{"nine attributes, content type and a binary body", std, bindings.InvokeRequest{Data: []byte{0}, ContentType: "application/octet-stream", Metadata: nine}, "at most 10"},
		{"empty attribute", std, bindings.InvokeRequest{Data: []byte("x"), Metadata: map[string]string{"k": ""}}, `"k" is empty`},
		{"bad delay", std, bindings.InvokeRequest{Data: []byte("x"), Metadata: map[string]string{"delaySeconds": "901"}}, "0 to 900"},
		{"delay on FIFO", fifo, bindings.InvokeRequest{Data: []byte("x"), Metadata: map[string]string{"DelaySeconds": "5"}}, "FIFO"},
		{"reserved attribute", std, bindings.InvokeRequest{Data: []byte("x"), Metadata: map[string]string{"contentTransferEncoding": "gzip"}}, "reserved"},
	}
	for _, c := range cases {
		c.req.Operation = bindings.OpCreate
		_, err := c.out.Invoke(ctx, &c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: create = %v, want an error saying %q", c.name, err, c.want)
		}
	}
}

// TestRelay passes the metadata of a received message to create, as a
// function relaying messages (or the runtime dead-lettering one) does: the
// system attributes are not sent again, the group is kept.
func TestRelay(t *testing.T) {
	ctx := testContext(t)
	from, to := newQueue(t, true, nil), newQueue(t, true, nil)
	create(t, ctx, openOutput(t, ctx, metadata(t, from, nil)), "relayed", map[string]string{"partitionKey": "g1", "tenant": "acme"})
	in := openInput(t, ctx, metadata(t, from, nil))
	m := receiveOne(t, ctx, in)
	if m.Key != "g1" || m.Metadata["MessageGroupId"] != "g1" || m.Metadata["SequenceNumber"] == "" {
		t.Fatalf("Key %q, metadata %v; want group g1 and a sequence number", m.Key, m.Metadata)
	}
	out := openOutput(t, ctx, metadata(t, to, nil))
	create(t, ctx, out, string(m.Data), m.Metadata)
	if err := in.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
	again := receiveOne(t, ctx, openInput(t, ctx, metadata(t, to, nil)))
	if again.Key != "g1" || again.Metadata["tenant"] != "acme" || again.Metadata["ApproximateReceiveCount"] != "1" {
		t.Errorf("relayed message: Key %q, metadata %v; want group g1, tenant acme, a first receive", again.Key, again.Metadata)
	}
}

// TestFIFODeduplication: a repeated deduplication id is dropped by SQS;
// identical payloads without one are not.
func TestFIFODeduplication(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, true, nil)
	out := openOutput(t, ctx, metadata(t, queue, nil))
	first := create(t, ctx, out, "same", map[string]string{"messageDeduplicationId": "d1"})
	second := create(t, ctx, out, "same", map[string]string{"messageDeduplicationId": "d1"})
	if first.Metadata["messageId"] == "" || first.Metadata["messageId"] != second.Metadata["messageId"] || first.Metadata["sequenceNumber"] == "" {
		t.Errorf("responses %v and %v: want one message id and a sequence number for a repeated deduplication id", first.Metadata, second.Metadata)
	}
	create(t, ctx, out, "same", nil)
	create(t, ctx, out, "same", nil)
	if n := queueDepth(t, ctx, queue); n != 3 {
		t.Errorf("queue holds %d messages, want 3 (one deduplicated, two distinct sends of one payload)", n)
	}
}

// TestDelaySeconds: a delayed message is not received before its delay.
func TestDelaySeconds(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, false, nil)
	in := openInput(t, ctx, metadata(t, queue, nil))
	sent := time.Now()
	create(t, ctx, openOutput(t, ctx, metadata(t, queue, nil)), "later", map[string]string{"delaySeconds": "1"})
	m := receiveOne(t, ctx, in)
	if waited := time.Since(sent); waited < time.Second {
		t.Errorf("message delayed 1s arrived after %s", waited)
	}
	if err := in.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
}

// TestExtendLease: a message whose lease was extended is not redelivered
// when its visibility timeout would have ended (a lower bound, as the
// suite's NackDelay), and settled messages cannot be extended.
func TestExtendLease(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, false, nil)
	md := metadata(t, queue, map[string]string{"messageVisibilityTimeout": "1"})
	in := openInput(t, ctx, md)
	if li, ok := in.(interface{ LeaseInterval() time.Duration }); !ok || li.LeaseInterval() != time.Second/3 {
		t.Errorf("LeaseInterval: want a third of the 1s visibility timeout")
	}
	create(t, ctx, openOutput(t, ctx, md), "long job", nil)
	m := receiveOne(t, ctx, in)
	extended := time.Now()
	if err := in.(bindings.LeaseExtender).ExtendLeases(ctx, []*bindings.Message{m}, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	other := openInput(t, ctx, md)
	again := receiveOne(t, ctx, other)
	if waited := time.Since(extended); waited < 3*time.Second {
		t.Errorf("lease extended to 3s, message redelivered after %s", waited)
	}
	if again.ID != m.ID || again.DeliveryCount != 2 {
		t.Errorf("redelivery: ID %q, DeliveryCount %d; want %q, 2", again.ID, again.DeliveryCount, m.ID)
	}
	if err := other.Ack(ctx, again); err != nil {
		t.Fatal(err)
	}
	if err := in.(bindings.LeaseExtender).ExtendLeases(ctx, []*bindings.Message{again}, time.Second); !errors.Is(err, sqs.ErrNotInFlight) {
		t.Errorf("ExtendLeases of another input's message = %v, want ErrNotInFlight", err)
	}
	if err := other.(bindings.LeaseExtender).ExtendLeases(ctx, []*bindings.Message{again}, time.Second); !errors.Is(err, sqs.ErrNotInFlight) {
		t.Errorf("ExtendLeases of an acked message = %v, want ErrNotInFlight", err)
	}
	if err := other.Ack(ctx, again); !errors.Is(err, sqs.ErrNotInFlight) {
		t.Errorf("second Ack = %v, want ErrNotInFlight", err)
	}
}

// TestAckFlushOnClose acks more messages than one delete batch holds and
// closes at once: every delete is sent before Close returns.
func TestAckFlushOnClose(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, false, nil)
	md := metadata(t, queue, nil)
	out := openOutput(t, ctx, md)
	const n = 25
	for i := range n {
		create(t, ctx, out, fmt.Sprint(i), nil)
	}
	in := openInput(t, ctx, md)
	var held []*bindings.Message
	for len(held) < n {
		msgs, err := in.Receive(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, msgs...)
	}
	for _, m := range held {
		if err := in.Ack(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := queueDepth(t, ctx, queue); d != 0 {
		t.Errorf("after acking all %d and Close, the queue holds %d", n, d)
	}
	if err := in.Ack(ctx, held[0]); !errors.Is(err, bindings.ErrClosed) {
		t.Errorf("Ack after Close = %v, want ErrClosed", err)
	}
}

// TestCloseReleasesFIFOGroup: Close gives a FIFO group's message in flight
// back at once, so the next input gets it (counted) and then the rest of the
// group, in order.
func TestCloseReleasesFIFOGroup(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, true, nil)
	md := metadata(t, queue, nil)
	out := openOutput(t, ctx, md)
	for i := range 3 {
		create(t, ctx, out, fmt.Sprint(i), map[string]string{"messageGroupId": "g"})
	}
	first := openInput(t, ctx, md)
	m := receiveSingle(t, ctx, first)
	if string(m.Data) != "0" || m.Key != "g" {
		t.Fatalf("first delivery %q (key %q), want 0 of group g", m.Data, m.Key)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := openInput(t, ctx, md)
	for i := range 3 {
		m := receiveSingle(t, ctx, second)
		wantCount := 1
		if i == 0 {
			wantCount = 2
		}
		if string(m.Data) != fmt.Sprint(i) || m.DeliveryCount != wantCount {
			t.Errorf("delivery %d: %q with DeliveryCount %d, want %d with %d", i, m.Data, m.DeliveryCount, i, wantCount)
		}
		if err := second.Ack(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenErrors: a missing queue fails at open, naming it; createQueue
// makes it.
func TestOpenErrors(t *testing.T) {
	ctx := testContext(t)
	missing := "tether-missing-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	_, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "in", Type: sqs.TypeName, Metadata: metadata(t, missing, nil)})
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("OpenInput of a missing queue = %v, want an error naming it", err)
	}
	_, _, err = bindings.OpenOutput(ctx, bindings.Config{Name: "out", Type: sqs.TypeName, Metadata: metadata(t, missing, nil)})
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("OpenOutput of a missing queue = %v, want an error naming it", err)
	}
	out := openOutput(t, ctx, metadata(t, missing, map[string]string{"createQueue": "true"}))
	create(t, ctx, out, "made", nil)
	if queueDepth(t, ctx, missing) != 1 {
		t.Errorf("createQueue: the queue does not hold the message")
	}
	// A queue URL works as queueName too.
	byURL := openInput(t, ctx, metadata(t, queueURL(t, missing), nil))
	if m := receiveOne(t, ctx, byURL); string(m.Data) != "made" {
		t.Errorf("received %q through the queue URL, want made", m.Data)
	}
}

// TestNackDelayFIFO: on a FIFO queue a nacked message comes back first, with
// the group waiting behind it.
func TestNackDelayFIFO(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, true, nil)
	md := metadata(t, queue, nil)
	out := openOutput(t, ctx, md)
	create(t, ctx, out, "a", nil)
	create(t, ctx, out, "b", nil)
	in := openInput(t, ctx, md)
	m := receiveSingle(t, ctx, in)
	if err := in.Nack(ctx, m, time.Second); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a", "b"} {
		m := receiveSingle(t, ctx, in)
		if string(m.Data) != want {
			t.Fatalf("received %q, want %q: the group keeps its order across a nack", m.Data, want)
		}
		if err := in.Ack(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}

// TestContentTypeMetadata: the request's content type wins over metadata
// contentType, which is used when the request has none.
func TestContentTypeMetadata(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, false, nil)
	md := metadata(t, queue, nil)
	out := openOutput(t, ctx, md)
	if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("1"), ContentType: "text/plain", Metadata: map[string]string{"contentType": "application/xml"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("2"), Metadata: map[string]string{"ContentType": "application/xml"}}); err != nil {
		t.Fatal(err)
	}
	in := openInput(t, ctx, md)
	want := map[string]string{"1": "text/plain", "2": "application/xml"}
	for len(want) > 0 {
		msgs, err := in.Receive(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if ct, ok := want[string(m.Data)]; !ok || m.ContentType != ct {
				t.Errorf("message %q: content type %q, want %q", m.Data, m.ContentType, ct)
			}
			delete(want, string(m.Data))
			if err := in.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
}
