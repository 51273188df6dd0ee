package rabbitmq_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/rabbitmq"
)

// TestAcksNeverAcknowledgeAnotherMessage: the input acks the settled prefix
// of delivery tags with one multiple ack and the acks past a message still
// being handled one by one. Whatever batches form, an ack must never
// acknowledge a message that is still held (it would be lost) or one already
// settled (the broker closes the channel over an unknown tag), and the acks
// past a held message must leave at once, or a full prefetch window would
// stop deliveries.
func TestAcksNeverAcknowledgeAnotherMessage(t *testing.T) {
	md := component(t, map[string]string{"prefetchCount": "5"})
	in := openInput(t, "in", md)
	out := openOutput(t, md)
	const n = 10
	for i := range n {
		send(t, out, fmt.Sprint(i), map[string]string{"messageID": fmt.Sprint("m", i)})
	}
	ctx := context.Background()
	deliveries := map[string]int{}
	receive := func(in bindings.Input) *bindings.Message {
		t.Helper()
		m := receiveOne(t, in)
		deliveries[m.ID]++
		return m
	}
	settle := func(in bindings.Input, m *bindings.Message, nack bool) {
		t.Helper()
		settle := in.Ack
		if nack {
			settle = func(ctx context.Context, m *bindings.Message) error { return in.Nack(ctx, m, 0) }
		}
		if err := settle(ctx, m); err != nil {
			t.Fatalf("settle %s: %v", m.ID, err)
		}
	}

	// The first window: the last nacked, the middle acked, then the first,
	// so that the prefix ends on a nacked tag.
	var window []*bindings.Message
	for range 5 {
		window = append(window, receive(in))
	}
	settle(in, window[4], true)
	for _, m := range window[1:4] {
		settle(in, m, false)
	}
	settle(in, window[0], false)

	// The rest, the first of them held: the window only reopens if the acks
	// past it leave.
	held := receive(in)
	for deliveries["m4"] < 2 || len(deliveries) < n {
		settle(in, receive(in), false)
	}
	if err := rabbitmq.FlushAcks(in, md["queueName"]); err != nil {
		t.Fatalf("the channel did not survive the acks: %v", err)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}

	// The held message comes back, and nothing else does.
	again := openInput(t, "again", md)
	if m := receive(again); m.ID != held.ID {
		t.Fatalf("after close got %s, want the held %s back", m.ID, held.ID)
	} else {
		settle(again, m, false)
	}
	if err := rabbitmq.FlushAcks(again, md["queueName"]); err != nil {
		t.Fatal(err)
	}
	for id, c := range deliveries {
		want := 1
		if id == "m4" { // nacked once
			want++
		}
		if id == held.ID { // given back by Close
			want++
		}
		if c != want {
			t.Errorf("%s delivered %d times, want %d", id, c, want)
		}
	}
}
