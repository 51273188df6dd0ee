package memory_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/memory"
)

func TestConformance(t *testing.T) {
	c := bindingtest.Config{
		Type: memory.TypeName,
		Metadata: func(t *testing.T) map[string]string {
			return map[string]string{"queue": bindingtest.Unique("conformance")}
		},
		InvalidMetadata: []map[string]string{
			{"maxLength": "-1"},
			{"maxLength": "many"},
		},
	}
	if testing.Short() {
		c.Messages = 1000
	}
	bindingtest.Run(t, c)
}

func openInput(t *testing.T, md map[string]string) bindings.Input {
	t.Helper()
	in, _, err := bindings.OpenInput(t.Context(), bindings.Config{Name: "test", Type: memory.TypeName, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func openOutput(t *testing.T, md map[string]string) bindings.Output {
	t.Helper()
	out, _, err := bindings.OpenOutput(t.Context(), bindings.Config{Name: "test", Type: memory.TypeName, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

func create(t *testing.T, out bindings.Output, data string, md map[string]string) {
	t.Helper()
	if _, err := out.Invoke(t.Context(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte(data), Metadata: md}); err != nil {
		t.Fatalf("create %q: %v", data, err)
	}
}

// receive returns the next n messages, in the order received.
func receive(t *testing.T, in bindings.Input, n int) []*bindings.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []*bindings.Message
	for len(got) < n {
		msgs, err := in.Receive(ctx, n-len(got))
		if err != nil {
			t.Fatalf("Receive after %d of %d: %v", len(got), n, err)
		}
		got = append(got, msgs...)
	}
	return got
}

// receiveNone checks that nothing is ready on in, which reads queue q: it
// publishes a sentinel and wants it to be the only message handed out, so
// the check waits for an event rather than for a quiet spell.
func receiveNone(t *testing.T, in bindings.Input, q string) {
	t.Helper()
	memory.Publish(q, &bindings.Message{Data: []byte("sentinel")})
	msgs, err := in.Receive(t.Context(), 10)
	if err != nil {
		t.Fatalf("Receive the sentinel: %v", err)
	}
	if len(msgs) != 1 || string(msgs[0].Data) != "sentinel" {
		t.Fatalf("Receive = %d messages (first %q), want only the sentinel", len(msgs), msgs[0].Data)
	}
	if err := in.Ack(t.Context(), msgs[0]); err != nil {
		t.Fatalf("Ack the sentinel: %v", err)
	}
}

func TestQueueDefaultsToComponentName(t *testing.T) {
	name := bindingtest.Unique("named")
	out, _, err := bindings.OpenOutput(t.Context(), bindings.Config{Name: name, Type: memory.TypeName})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	create(t, out, "hello", nil)
	if n := memory.Len(name); n != 1 {
		t.Fatalf("Len(%q) = %d, want 1", name, n)
	}
	memory.Reset(name)
}

func TestCreateFields(t *testing.T) {
	q := bindingtest.Unique("fields")
	out := openOutput(t, map[string]string{"queue": q})
	in := openInput(t, map[string]string{"queue": q})

	create(t, out, "a", map[string]string{"contentType": "text/plain", "partitionKey": "k1", "x": "1"})
	if _, err := out.Invoke(t.Context(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("b"), ContentType: "application/json", Metadata: map[string]string{"contentType": "text/plain"}}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	create(t, out, "c", nil)

	msgs := receive(t, in, 3)
	a, b, c := msgs[0], msgs[1], msgs[2]
	if a.ContentType != "text/plain" || a.Key != "k1" || a.Metadata["x"] != "1" || a.Metadata["partitionKey"] != "k1" {
		t.Errorf("a: content type %q, key %q, metadata %v", a.ContentType, a.Key, a.Metadata)
	}
	if b.ContentType != "application/json" {
		t.Errorf("b: content type %q, want the request's over metadata's", b.ContentType)
	}
	if c.ContentType != "" || c.Key != "" || c.Metadata != nil {
		t.Errorf("c: content type %q, key %q, metadata %v; want none", c.ContentType, c.Key, c.Metadata)
	}
	if c.Time.Before(before) || c.DeliveryCount != 1 {
		t.Errorf("c: time %v (created after %v), delivery count %d", c.Time, before, c.DeliveryCount)
	}
	if a.ID == b.ID || b.ID == c.ID || a.ID == c.ID {
		t.Errorf("ids not unique: %q %q %q", a.ID, b.ID, c.ID)
	}
	for _, m := range msgs {
		if err := in.Ack(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCreateCopiesMetadata(t *testing.T) {
	q := bindingtest.Unique("copy")
	out := openOutput(t, map[string]string{"queue": q})
	in := openInput(t, map[string]string{"queue": q})
	md := map[string]string{"x": "1"}
	create(t, out, "a", md)
	md["x"] = "changed"
	if m := receive(t, in, 1)[0]; m.Metadata["x"] != "1" {
		t.Fatalf("metadata changed by the caller after create: %v", m.Metadata)
	}
}

func TestAckTwice(t *testing.T) {
	q := bindingtest.Unique("twice")
	memory.Publish(q, &bindings.Message{Data: []byte("a")}, &bindings.Message{Data: []byte("b")})
	in := openInput(t, map[string]string{"queue": q})
	m := receive(t, in, 1)[0]
	if err := in.Ack(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if err := in.Ack(t.Context(), m); !errors.Is(err, memory.ErrSettled) {
		t.Errorf("second Ack = %v, want ErrSettled", err)
	}
	if err := in.Nack(t.Context(), m, 0); !errors.Is(err, memory.ErrSettled) {
		t.Errorf("Nack after Ack = %v, want ErrSettled", err)
	}
	if n := memory.Len(q); n != 1 {
		t.Errorf("Len = %d after acking one of two, want 1", n)
	}
	b := receive(t, in, 1)[0]
	if string(b.Data) != "b" {
		t.Errorf("got %q, want b", b.Data)
	}
	if err := in.Nack(t.Context(), b, 0); err != nil {
		t.Fatal(err)
	}
	if err := in.Nack(t.Context(), b, 0); !errors.Is(err, memory.ErrSettled) {
		t.Errorf("second Nack = %v, want ErrSettled", err)
	}
	if n := memory.Len(q); n != 1 {
		t.Errorf("Len = %d after a double nack, want 1 (no second copy)", n)
	}
}

// TestAckBatch: AckBatch acks what it can and names each message it
// cannot ack, as Ack would.
func TestAckBatch(t *testing.T) {
	q := bindingtest.Unique("ackbatch")
	memory.Publish(q, &bindings.Message{Data: []byte("a")}, &bindings.Message{Data: []byte("b")}, &bindings.Message{Data: []byte("c")})
	in := openInput(t, map[string]string{"queue": q})
	ms := receive(t, in, 3)
	ba := in.(bindings.BatchAcker)
	if err := ba.AckBatch(t.Context(), ms[:1]); err != nil {
		t.Fatal(err)
	}
	err := ba.AckBatch(t.Context(), []*bindings.Message{ms[0], ms[1], {ID: "x"}, ms[2]})
	if !errors.Is(err, memory.ErrSettled) || !strings.Contains(err.Error(), ms[0].ID) || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("AckBatch = %v, want ErrSettled for %s and an error for x", err, ms[0].ID)
	}
	if strings.Contains(err.Error(), ms[1].ID) || strings.Contains(err.Error(), ms[2].ID) {
		t.Errorf("AckBatch = %v: names messages it acked", err)
	}
	if n := memory.Len(q); n != 0 {
		t.Errorf("Len = %d after acking all three, want 0", n)
	}
}

func TestSettleForeignMessage(t *testing.T) {
	q := bindingtest.Unique("foreign")
	memory.Publish(q, &bindings.Message{Data: []byte("a")})
	in1 := openInput(t, map[string]string{"queue": q})
	in2 := openInput(t, map[string]string{"queue": q})
	m := receive(t, in1, 1)[0]
	if err := in2.Ack(t.Context(), m); err == nil {
		t.Error("another input acked the message")
	}
	if err := in1.Ack(t.Context(), &bindings.Message{ID: "x"}); err == nil {
		t.Error("Ack of a message not from a memory input succeeded")
	}
	if err := in1.Ack(t.Context(), nil); err == nil {
		t.Error("Ack(nil) succeeded")
	}
	if err := in1.Ack(t.Context(), m); err != nil {
		t.Errorf("Ack by its own input: %v", err)
	}
}

// TestSettleAfterClose: Close gives unsettled messages back; settling the
// old delivery afterwards fails with ErrClosed and changes nothing, so each
// message is delivered exactly once more.
func TestSettleAfterClose(t *testing.T) {
	q := bindingtest.Unique("afterclose")
	memory.Publish(q, &bindings.Message{Data: []byte("a")}, &bindings.Message{Data: []byte("b")})
	first := openInput(t, map[string]string{"queue": q})
	held := receive(t, first, 2)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := first.Ack(t.Context(), held[0]); !errors.Is(err, bindings.ErrClosed) {
		t.Errorf("Ack after Close = %v, want ErrClosed", err)
	}
	if err := first.Nack(t.Context(), held[1], 0); !errors.Is(err, bindings.ErrClosed) {
		t.Errorf("Nack after Close = %v, want ErrClosed", err)
	}
	if n := memory.Len(q); n != 2 {
		t.Errorf("Len = %d, want 2: both messages back once", n)
	}
	second := openInput(t, map[string]string{"queue": q})
	back := receive(t, second, 2)
	for i, m := range back {
		if string(m.Data) != string(held[i].Data) || m.DeliveryCount != 2 || m.ID != held[i].ID {
			t.Errorf("redelivery %d: %q count %d id %s, want %q count 2 id %s", i, m.Data, m.DeliveryCount, m.ID, held[i].Data, held[i].ID)
		}
		if err := second.Ack(t.Context(), m); err != nil {
			t.Error(err)
		}
	}
	receiveNone(t, second, q)
	if n := memory.Len(q); n != 0 {
		t.Errorf("Len = %d after acking the redeliveries, want 0", n)
	}
}

// TestRedeliveryKeepsPlace: a nacked message returns to its original place,
// ahead of messages created after it, so per-key order holds.
func TestRedeliveryKeepsPlace(t *testing.T) {
	q := bindingtest.Unique("place")
	for _, d := range []string{"1", "2", "3", "4"} {
		memory.Publish(q, &bindings.Message{Data: []byte(d)})
	}
	in := openInput(t, map[string]string{"queue": q})
	got := receive(t, in, 2) // 1, 2
	if err := in.Nack(t.Context(), got[1], 0); err != nil {
		t.Fatal(err)
	}
	if err := in.Nack(t.Context(), got[0], 0); err != nil {
		t.Fatal(err)
	}
	var order string
	for _, m := range receive(t, in, 4) {
		order += string(m.Data)
		in.Ack(t.Context(), m)
	}
	if order != "1234" {
		t.Errorf("order after nacks = %s, want 1234", order)
	}
}

// TestNackDelayDoesNotBlock: Nack returns at once; the message waits apart,
// counted by Len, and others flow past it.
func TestNackDelayDoesNotBlock(t *testing.T) {
	q := bindingtest.Unique("delay")
	memory.Publish(q, &bindings.Message{Data: []byte("a")})
	in := openInput(t, map[string]string{"queue": q})
	a := receive(t, in, 1)[0]
	if err := in.Nack(t.Context(), a, time.Hour); err != nil {
		t.Fatal(err)
	}
	memory.Publish(q, &bindings.Message{Data: []byte("b")})
	if b := receive(t, in, 1)[0]; string(b.Data) != "b" {
		t.Fatalf("got %q, want b while a waits out its delay", b.Data)
	} else {
		in.Ack(t.Context(), b)
	}
	receiveNone(t, in, q)
	if n := memory.Len(q); n != 1 {
		t.Errorf("Len = %d, want 1 (the delayed message)", n)
	}
	memory.Reset(q) // stops the timer
	if n := memory.Len(q); n != 0 {
		t.Errorf("Len after Reset = %d", n)
	}
}

func TestMaxLength(t *testing.T) {
	q := bindingtest.Unique("max")
	out := openOutput(t, map[string]string{"queue": q, "maxLength": "2"})
	in := openInput(t, map[string]string{"queue": q})
	create(t, out, "a", nil)
	create(t, out, "b", nil)
	_, err := out.Invoke(t.Context(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("c")})
	if !errors.Is(err, memory.ErrFull) {
		t.Fatalf("create beyond maxLength = %v, want ErrFull", err)
	}
	m := receive(t, in, 1)[0]
	// In flight still counts.
	if _, err := out.Invoke(t.Context(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("c")}); !errors.Is(err, memory.ErrFull) {
		t.Fatalf("create with one in flight = %v, want ErrFull", err)
	}
	in.Ack(t.Context(), m)
	create(t, out, "c", nil)
}

func TestResetDropsInFlight(t *testing.T) {
	q := bindingtest.Unique("reset")
	memory.Publish(q, &bindings.Message{Data: []byte("a")}, &bindings.Message{Data: []byte("b")})
	in := openInput(t, map[string]string{"queue": q})
	m := receive(t, in, 1)[0]
	memory.Reset(q)
	if n := memory.Len(q); n != 0 {
		t.Fatalf("Len after Reset = %d", n)
	}
	if err := in.Ack(t.Context(), m); !errors.Is(err, memory.ErrSettled) {
		t.Errorf("Ack after Reset = %v, want ErrSettled", err)
	}
	receiveNone(t, in, q)
	memory.Publish(q, &bindings.Message{Data: []byte("c")})
	if m := receive(t, in, 1)[0]; string(m.Data) != "c" {
		t.Errorf("after Reset got %q, want c", m.Data)
	}
}

func TestPublishKeepsGivenFields(t *testing.T) {
	q := bindingtest.Unique("publish")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	memory.Publish(q, &bindings.Message{ID: "given", Data: []byte("a"), DeliveryCount: 3, Time: at, Key: "k", ContentType: "text/plain"}, nil)
	in := openInput(t, map[string]string{"queue": q})
	m := receive(t, in, 1)[0]
	if m.ID != "given" || m.DeliveryCount != 3 || !m.Time.Equal(at) || m.Key != "k" || m.ContentType != "text/plain" {
		t.Errorf("published message arrived as %+v", m)
	}
	if n := memory.Len("no-such-queue-" + q); n != 0 {
		t.Errorf("Len of an unknown queue = %d", n)
	}
	memory.Reset("no-such-queue-" + q) // must not panic
}

func TestOutputClosed(t *testing.T) {
	out := openOutput(t, map[string]string{"queue": bindingtest.Unique("closed")})
	out.Close()
	_, err := out.Invoke(t.Context(), &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("a")})
	if !errors.Is(err, bindings.ErrClosed) {
		t.Errorf("create after Close = %v, want ErrClosed", err)
	}
}

func TestReceiveLimitBelowOne(t *testing.T) {
	q := bindingtest.Unique("limit")
	memory.Publish(q, &bindings.Message{Data: []byte("a")}, &bindings.Message{Data: []byte("b")})
	in := openInput(t, map[string]string{"queue": q})
	msgs, err := in.Receive(t.Context(), 0)
	if err != nil || len(msgs) != 1 {
		t.Errorf("Receive(0) = %d messages, %v; want 1", len(msgs), err)
	}
}
