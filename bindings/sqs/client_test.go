package sqs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/bindings/sqs"
)

func bindClient(t *testing.T, ctx context.Context, md map[string]string) *sqs.Client {
	t.Helper()
	out, typ, err := bindings.OpenOutput(ctx, bindings.Config{Name: "shipments", Type: sqs.TypeName, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	c := new(sqs.Client)
	if err := c.BindOutput(bindings.OutputBinding{Name: "shipments", Type: typ, Output: out}); err != nil {
		t.Fatalf("BindOutput: %v", err)
	}
	return c
}

func TestClientRefusesOtherTypes(t *testing.T) {
	ctx := testContext(t)
	out, typ, err := bindings.OpenOutput(ctx, bindings.Config{Name: "jobs", Type: memory.TypeName, Metadata: map[string]string{"queue": bindingtest.Unique("sqs-client")}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	err = new(sqs.Client).BindOutput(bindings.OutputBinding{Name: "jobs", Type: typ, Output: out})
	if err == nil || !strings.Contains(err.Error(), `"jobs"`) || !strings.Contains(err.Error(), memory.TypeName) || !strings.Contains(err.Error(), sqs.TypeName) {
		t.Errorf("BindOutput of a memory component = %v, want an error naming the component and both types", err)
	}
	if err := new(sqs.Client).BindOutput(bindings.OutputBinding{Name: "x"}); err == nil {
		t.Error("BindOutput of a binding that is not open succeeded")
	}
	if _, err := new(sqs.Client).Send(ctx, sqs.Message{Body: []byte("x")}); err == nil {
		t.Error("Send on an unbound client succeeded")
	}
}

// TestClientSendBatch sends more than one batch holds to a FIFO group, text
// and binary mixed: every message arrives, in order, under the id SendBatch
// returned.
func TestClientSendBatch(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, true, nil)
	c := bindClient(t, ctx, metadata(t, queue, nil))
	if c.Binding() != "shipments" {
		t.Errorf("Binding() = %q", c.Binding())
	}
	const n = 25
	msgs := make([]sqs.Message, n)
	for i := range msgs {
		body := []byte(fmt.Sprintf("m%02d", i))
		if i%5 == 0 {
			body = append(body, 0, 0xff) // binary: travels base64-encoded
		}
		msgs[i] = sqs.Message{Body: body, GroupID: "g", ContentType: "application/x-test", Attributes: map[string]string{"n": fmt.Sprint(i)}}
	}
	ids, err := c.SendBatch(ctx, msgs)
	if err != nil {
		t.Fatalf("SendBatch: %v", err)
	}
	if len(ids) != n {
		t.Fatalf("SendBatch returned %d ids for %d messages", len(ids), n)
	}
	in := openInput(t, ctx, metadata(t, queue, nil))
	for i := 0; i < n; {
		got, err := in.Receive(ctx, 10)
		if err != nil {
			t.Fatalf("Receive: %v after %d messages", err, i)
		}
		for _, m := range got {
			if string(m.Data) != string(msgs[i].Body) || m.ID != ids[i] || m.Key != "g" || m.Metadata["n"] != fmt.Sprint(i) || m.ContentType != "application/x-test" {
				t.Errorf("message %d: %q id %q key %q n %q type %q; want %q id %q key g n %d", i, m.Data, m.ID, m.Key, m.Metadata["n"], m.ContentType, msgs[i].Body, ids[i], i)
			}
			if err := in.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
			i++
		}
	}
}

// TestClientSendBatchPartialFailure: a message SQS refuses is reported by
// its index; the others are sent.
func TestClientSendBatchPartialFailure(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, false, map[string]string{"MaximumMessageSize": "1024"})
	c := bindClient(t, ctx, metadata(t, queue, nil))
	ids, err := c.SendBatch(ctx, []sqs.Message{
		{Body: []byte("small")},
		{Body: []byte(strings.Repeat("x", 2000))},
		{Body: []byte("small too")},
	})
	var be *sqs.BatchError
	var bindingErr *bindings.Error
	if !errors.As(err, &be) || !errors.As(err, &bindingErr) || bindingErr.Binding != "shipments" {
		t.Fatalf("SendBatch = %v, want a *bindings.Error for shipments wrapping a *sqs.BatchError", err)
	}
	if len(be.Failed) != 1 || be.Failed[0].Index != 1 || !be.Failed[0].SenderFault || be.Failed[0].Code == "" {
		t.Errorf("failed entries %+v, want message 1, the sender's fault, with a code", be.Failed)
	}
	if len(ids) != 3 || ids[0] == "" || ids[1] != "" || ids[2] == "" {
		t.Errorf("ids %q, want ids for messages 0 and 2 only", ids)
	}
	if d := queueDepth(t, ctx, queue); d != 2 {
		t.Errorf("queue holds %d messages, want the 2 that were sent", d)
	}
}

func TestClientSend(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, false, nil)
	c := bindClient(t, ctx, metadata(t, queue, nil))
	id, err := c.Send(ctx, sqs.Message{Body: []byte(`{"id":7}`), Attributes: map[string]string{"contentType": "application/json", "tenant": "acme"}})
	if err != nil {
		t.Fatal(err)
	}
	m := receiveOne(t, ctx, openInput(t, ctx, metadata(t, queue, nil)))
	if m.ID != id || m.ContentType != "application/json" || m.Metadata["tenant"] != "acme" {
		t.Errorf("received id %q type %q metadata %v; want id %q, application/json (from the contentType attribute), tenant acme", m.ID, m.ContentType, m.Metadata, id)
	}
	_, err = c.Send(ctx, sqs.Message{})
	var bindingErr *bindings.Error
	if !errors.As(err, &bindingErr) || bindingErr.Op != "send" {
		t.Errorf("Send of an empty body = %v, want a *bindings.Error for send", err)
	}
}
