package bindingtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
)

type sendFunc = func(ctx context.Context, req *bindings.InvokeRequest) error

// send publishes one message or fails the test.
func send(t *testing.T, ctx context.Context, sendTo sendFunc, req *bindings.InvokeRequest) {
	t.Helper()
	if err := sendTo(ctx, req); err != nil {
		t.Fatalf("send %q: %v", short(req.Data), err)
	}
}

// receive calls Receive once and checks the batch's size against the limit
// and the BatchReceive capability.
func (s *suite) receive(t *testing.T, ctx context.Context, in bindings.Input, limit int, waitingFor string) []*bindings.Message {
	t.Helper()
	msgs, err := in.Receive(ctx, limit)
	if err != nil {
		if ctx.Err() != nil {
			t.Fatalf("Receive: %v, still waiting for %s", err, waitingFor)
		}
		t.Fatalf("Receive: %v", err)
	}
	s.checkBatch(t, msgs, limit)
	return msgs
}

func (s *suite) checkBatch(t *testing.T, msgs []*bindings.Message, limit int) {
	t.Helper()
	switch {
	case len(msgs) == 0:
		t.Errorf("Receive returned no message and no error; it must block until there is one")
	case len(msgs) > limit:
		t.Errorf("Receive(%d) returned %d messages", limit, len(msgs))
	case len(msgs) > 1 && !s.cap.BatchReceive:
		t.Errorf("Receive returned %d messages, but Capabilities.BatchReceive is false", len(msgs))
	}
	for _, m := range msgs {
		if m == nil {
			t.Fatalf("Receive returned a nil message")
		}
		if m.ID == "" {
			t.Errorf("message %q has no ID", short(m.Data))
		}
		if m.DeliveryCount < 1 {
			t.Errorf("message %q: DeliveryCount %d, want at least 1", short(m.Data), m.DeliveryCount)
		}
	}
}

func ack(t *testing.T, ctx context.Context, in bindings.Input, m *bindings.Message) {
	t.Helper()
	if err := in.Ack(ctx, m); err != nil {
		t.Errorf("Ack %q: %v", short(m.Data), err)
	}
}

// expect receives until it has seen every payload in want, and returns the
// messages by payload. Each is acked when ackAll is set. A payload outside
// want, or seen twice, is an error, or only a log where the broker declares
// Duplicates; those messages are acked so they do not come back.
func (s *suite) expect(t *testing.T, ctx context.Context, in bindings.Input, want []string, ackAll bool) map[string]*bindings.Message {
	t.Helper()
	pending := map[string]bool{}
	for _, p := range want {
		pending[p] = true
	}
	got := map[string]*bindings.Message{}
	for len(pending) > 0 {
		for _, m := range s.receive(t, ctx, in, batchLimit, fmt.Sprintf("%d of %d messages (%s)", len(pending), len(want), someKeys(pending))) {
			p := string(m.Data)
			switch {
			case pending[p]:
				delete(pending, p)
				got[p] = m
				if ackAll {
					ack(t, ctx, in, m)
				}
			default:
				s.unexpected(t, m, got[p] != nil)
				ack(t, ctx, in, m)
			}
		}
	}
	return got
}

// unexpected reports a message the test did not wait for: a duplicate, or one
// that was acked before and came back.
func (s *suite) unexpected(t *testing.T, m *bindings.Message, duplicate bool) {
	t.Helper()
	what := "an unexpected message (acked before, or never sent)"
	if duplicate {
		what = "a duplicate"
	}
	if s.cap.Duplicates {
		t.Logf("%s %q (id %s, delivery %d); allowed, Capabilities.Duplicates is set", what, short(m.Data), m.ID, m.DeliveryCount)
		return
	}
	t.Errorf("%s %q (id %s, delivery %d)", what, short(m.Data), m.ID, m.DeliveryCount)
}

// expectNothingBut sends a sentinel and receives until it: anything that comes
// first (a message that was acked and came back) is an error.
func (s *suite) expectNothingBut(t *testing.T, ctx context.Context, in bindings.Input, sendTo sendFunc, run string) {
	t.Helper()
	sentinel := run + "/sentinel"
	send(t, ctx, sendTo, &bindings.InvokeRequest{Data: []byte(sentinel)})
	s.expect(t, ctx, in, []string{sentinel}, true)
}

// payloads returns n distinct payloads of one run.
func payloads(run string, n int) []string {
	p := make([]string, n)
	for i := range p {
		p[i] = fmt.Sprintf("%s/%d", run, i)
	}
	return p
}

func sendAll(t *testing.T, ctx context.Context, sendTo sendFunc, ps []string) {
	t.Helper()
	for _, p := range ps {
		send(t, ctx, sendTo, &bindings.InvokeRequest{Data: []byte(p)})
	}
}

// testReceiveContext checks that Receive on an empty destination returns the
// context's error once it is done, and at once when it already is.
func (s *suite) testReceiveContext(t *testing.T, ctx context.Context) {
	in := s.openInput(t, ctx, s.metadata(t))

	done, cancel := context.WithCancel(ctx)
	cancel()
	msgs, err := s.receiveBounded(t, ctx, in, done)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Receive with a cancelled context = %d messages, %v; want context.Canceled", len(msgs), err)
	}

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	msgs, err = s.receiveBounded(t, ctx, in, short)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Receive on an empty destination past its deadline = %d messages, %v; want context.DeadlineExceeded", len(msgs), err)
	}
}

// receiveBounded calls Receive with rctx and fails the test if it has not
// returned when ctx (the subtest's) is done.
func (s *suite) receiveBounded(t *testing.T, ctx context.Context, in bindings.Input, rctx context.Context) ([]*bindings.Message, error) {
	t.Helper()
	type result struct {
		msgs []*bindings.Message
		err  error
	}
	c := make(chan result, 1)
	go func() {
		msgs, err := in.Receive(rctx, batchLimit)
		c <- result{msgs, err}
	}()
	select {
	case r := <-c:
		return r.msgs, r.err
	case <-ctx.Done():
		t.Fatalf("Receive did not return within the test's timeout")
		return nil, nil
	}
}

// testCloseUnblocksReceive checks that Close ends a waiting Receive with
// ErrClosed, and that Receive after Close fails the same way.
func (s *suite) testCloseUnblocksReceive(t *testing.T, ctx context.Context) {
	in := s.openInput(t, ctx, s.metadata(t))
	errc := make(chan error, 1)
	go func() {
		_, err := in.Receive(ctx, batchLimit)
		errc <- err
	}()
	if err := in.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if ctx.Err() != nil {
			t.Fatalf("Receive did not return after Close, only when the test's time ran out (%v)", err)
		}
		if !errors.Is(err, bindings.ErrClosed) {
			t.Errorf("Receive during Close = %v, want an error wrapping bindings.ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatalf("Receive did not return after Close")
	}
	_, err := s.receiveBounded(t, ctx, in, ctx)
	if !errors.Is(err, bindings.ErrClosed) {
		t.Errorf("Receive after Close = %v, want an error wrapping bindings.ErrClosed", err)
	}
}

// testRoundTrip checks that data (text and binary), content type and
// metadata arrive as sent, with distinct ids.
func (s *suite) testRoundTrip(t *testing.T, ctx context.Context) {
	md := s.metadata(t)
	in := s.openInput(t, ctx, md)
	sendTo := s.sender(t, ctx, md)
	run := Unique("roundtrip")

	binary := []byte(run + "/binary/")
	for b := range 256 {
		binary = append(binary, byte(b))
	}
	// Each payload starts with its own marker, so that one that arrives
	// changed is still recognised.
	markers := []string{`{"id":"` + run + `/json"`, run + "/text", run + "/binary"}
	sent := []*bindings.InvokeRequest{
		{
			Data:        []byte(markers[0] + `,"n":1}`),
			ContentType: "application/json",
			Metadata:    map[string]string{"conformance-a": "value-1", "conformance-b": "a value with spaces"},
		},
		{
			Data:        []byte(run + "/text: héllo wörld ✓"),
			ContentType: "text/plain; charset=utf-8",
			Metadata:    map[string]string{"conformance-c": "value-3"},
		},
		{
			Data:        binary,
			ContentType: "application/octet-stream",
		},
	}
	for _, req := range sent {
		send(t, ctx, sendTo, req)
	}
	got := map[string]*bindings.Message{}
	for len(got) < len(sent) {
		for _, m := range s.receive(t, ctx, in, batchLimit, fmt.Sprintf("%d of %d messages", len(sent)-len(got), len(sent))) {
			ack(t, ctx, in, m)
			i := slices.IndexFunc(markers, func(p string) bool { return bytes.HasPrefix(m.Data, []byte(p)) })
			if i < 0 || got[markers[i]] != nil {
				s.unexpected(t, m, i >= 0)
				continue
			}
			got[markers[i]] = m
		}
	}

	ids := map[string]string{}
	for i, req := range sent {
		m := got[markers[i]]
		if !bytes.Equal(m.Data, req.Data) {
			t.Errorf("data %q arrived as %q", req.Data, m.Data)
		}
		if other, dup := ids[m.ID]; dup {
			t.Errorf("messages %q and %q have the same ID %q", short(req.Data), other, m.ID)
		}
		ids[m.ID] = short(req.Data)
		if s.cap.DeliveryCount && m.DeliveryCount != 1 {
			t.Errorf("message %q: first delivery has DeliveryCount %d, want 1", short(req.Data), m.DeliveryCount)
		}
		if s.cap.ContentType && m.ContentType != req.ContentType {
			t.Errorf("message %q: ContentType %q, want %q", short(req.Data), m.ContentType, req.ContentType)
		}
		if s.cap.Metadata {
			for k, v := range req.Metadata {
				if got, ok := lookupFold(m.ReadMetadata(), k); !ok || got != v {
					t.Errorf("message %q: metadata %q = %q (present: %v), want %q; all: %v", short(req.Data), k, got, ok, v, m.ReadMetadata())
				}
			}
		}
	}
	if !s.cap.ContentType {
		t.Log("content type not checked: Capabilities.ContentType is false")
	}
	if !s.cap.Metadata {
		t.Log("metadata not checked: Capabilities.Metadata is false")
	}
	s.expectNothingBut(t, ctx, in, sendTo, run)
}

// lookupFold finds key in md, ignoring case: HTTP-style headers change it.
func lookupFold(md map[string]string, key string) (string, bool) {
	if v, ok := md[key]; ok {
		return v, true
	}
	for k, v := range md {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// testAckRemoves acks messages, closes the input, and checks on a new input
// that none of them comes back before a sentinel sent afterwards. An input
// that acks many at once (bindings.BatchAcker) acks them with one AckBatch.
func (s *suite) testAckRemoves(t *testing.T, ctx context.Context) {
	md := s.metadata(t)
	in := s.openInput(t, ctx, md)
	sendTo := s.sender(t, ctx, md)
	run := Unique("ack")
	ps := payloads(run, 5)
	sendAll(t, ctx, sendTo, ps)
	if ba, ok := in.(bindings.BatchAcker); ok {
		got := s.expect(t, ctx, in, ps, false)
		msgs := make([]*bindings.Message, 0, len(got))
		for _, p := range ps {
			msgs = append(msgs, got[p])
		}
		if err := ba.AckBatch(ctx, msgs); err != nil {
			t.Errorf("AckBatch of %d messages: %v", len(msgs), err)
		}
	} else {
		s.expect(t, ctx, in, ps, true)
	}
	if err := in.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	again := s.openInput(t, ctx, md)
	s.expectNothingBut(t, ctx, again, sendTo, run)
}

// testNackRedelivers nacks a message and checks that it comes back, counted.
func (s *suite) testNackRedelivers(t *testing.T, ctx context.Context) {
	md := s.metadata(t)
	in := s.openInput(t, ctx, md)
	sendTo := s.sender(t, ctx, md)
	run := Unique("nack")
	p := run + "/0"
	send(t, ctx, sendTo, &bindings.InvokeRequest{Data: []byte(p)})

	first := s.expect(t, ctx, in, []string{p}, false)[p]
	id, count := first.ID, first.DeliveryCount
	if err := in.Nack(ctx, first, 0); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	second := s.expect(t, ctx, in, []string{p}, false)[p]
	if s.cap.DeliveryCount {
		if count != 1 || second.DeliveryCount != count+1 {
			t.Errorf("DeliveryCount %d, then %d after a nack; want 1, then 2", count, second.DeliveryCount)
		}
	} else {
		t.Log("delivery count not checked: Capabilities.DeliveryCount is false")
	}
	if second.ID != id {
		t.Logf("the redelivery has ID %q, the first delivery had %q", second.ID, id)
	}
	ack(t, ctx, in, second)
	s.expectNothingBut(t, ctx, in, sendTo, run)
}

// testNackDelay checks that a message nacked with a delay is not received
// again before the delay has passed. Only a lower bound: no upper one.
func (s *suite) testNackDelay(t *testing.T, ctx context.Context) {
	if !s.cap.DelayedNack {
		t.Skip("Capabilities.DelayedNack is false: the runtime holds the delay itself")
	}
	md := s.metadata(t)
	in := s.openInput(t, ctx, md)
	sendTo := s.sender(t, ctx, md)
	run := Unique("delay")
	p := run + "/0"
	send(t, ctx, sendTo, &bindings.InvokeRequest{Data: []byte(p)})

	m := s.expect(t, ctx, in, []string{p}, false)[p]
	nacked := time.Now()
	if err := in.Nack(ctx, m, nackDelay); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	again := s.expect(t, ctx, in, []string{p}, false)[p]
	if waited := time.Since(nacked); waited < nackDelay {
		t.Errorf("nacked with delay %s, received again after %s", nackDelay, waited)
	}
	ack(t, ctx, in, again)
}

// testLease extends the lease of a message in flight, then acks it. How long
// a lease lasts is the driver's to test; this checks that extending works on
// a received message and leaves it settleable.
func (s *suite) testLease(t *testing.T, ctx context.Context) {
	if !s.cap.Lease {
		t.Skip("Capabilities.Lease is false")
	}
	md := s.metadata(t)
	in := s.openInput(t, ctx, md)
	ext, ok := in.(bindings.LeaseExtender)
	if !ok {
		t.Fatal("Capabilities.Lease is set, but the input does not implement bindings.LeaseExtender")
	}
	sendTo := s.sender(t, ctx, md)
	run := Unique("lease")
	// More than one batch request of the strictest broker (SQS: 10), all in
	// flight at once: one key each, so that a FIFO queue hands out every
	// one without waiting for the one before.
	var payloads []string
	for i := range 12 {
		p := fmt.Sprintf("%s/%d", run, i)
		payloads = append(payloads, p)
		send(t, ctx, sendTo, &bindings.InvokeRequest{Data: []byte(p), Metadata: map[string]string{"partitionKey": p}})
	}
	got := s.expect(t, ctx, in, payloads, false)
	msgs := make([]*bindings.Message, 0, len(got))
	for _, m := range got {
		msgs = append(msgs, m)
	}
	for range 2 {
		if err := ext.ExtendLeases(ctx, msgs, 30*time.Second); err != nil {
			t.Fatalf("ExtendLeases of %d messages in flight: %v", len(msgs), err)
		}
	}
	for _, m := range msgs {
		ack(t, ctx, in, m)
	}
	s.expectNothingBut(t, ctx, in, sendTo, run)
}

// testBatchReceive checks that batches never exceed the limit and, when the
// type declares BatchReceive, that waiting messages come more than one at a
// time.
func (s *suite) testBatchReceive(t *testing.T, ctx context.Context) {
	md := s.metadata(t)
	in := s.openInput(t, ctx, md)
	sendTo := s.sender(t, ctx, md)
	run := Unique("batch")
	ps := payloads(run, 3*batchLimit)
	sendAll(t, ctx, sendTo, ps)

	pending := map[string]bool{}
	for _, p := range ps {
		pending[p] = true
	}
	largest := 0
	for len(pending) > 0 {
		msgs := s.receive(t, ctx, in, batchLimit, fmt.Sprintf("%d of %d messages", len(pending), len(ps)))
		largest = max(largest, len(msgs))
		for _, m := range msgs {
			if !pending[string(m.Data)] {
				s.unexpected(t, m, strings.HasPrefix(string(m.Data), run))
			}
			delete(pending, string(m.Data))
			ack(t, ctx, in, m)
		}
	}
	if s.cap.BatchReceive && largest < 2 {
		t.Errorf("Capabilities.BatchReceive is set, but %d waiting messages came one per Receive(%d)", len(ps), batchLimit)
	}
	t.Logf("largest batch: %d", largest)
}

// testOrdering sends interleaved messages of several keys and checks that
// each key's messages arrive in order, carrying the key.
func (s *suite) testOrdering(t *testing.T, ctx context.Context) {
	if !s.cap.Ordering {
		t.Skip("Capabilities.Ordering is false")
	}
	md := s.metadata(t)
	in := s.openInput(t, ctx, md)
	sendTo := s.sender(t, ctx, md)
	run := Unique("order")
	const keys, perKey = 4, 25
	for i := range perKey {
		for k := range keys {
			key := fmt.Sprintf("%s-k%d", run, k)
			send(t, ctx, sendTo, &bindings.InvokeRequest{
				Data:     []byte(fmt.Sprintf("%s %d", key, i)),
				Metadata: map[string]string{"partitionKey": key},
			})
		}
	}
	next := map[string]int{}
	for received := 0; received < keys*perKey; {
		for _, m := range s.receive(t, ctx, in, batchLimit, fmt.Sprintf("%d of %d messages", keys*perKey-received, keys*perKey)) {
			ack(t, ctx, in, m)
			var key string
			var i int
			if _, err := fmt.Sscanf(string(m.Data), "%s %d", &key, &i); err != nil || !strings.HasPrefix(key, run) {
				s.unexpected(t, m, false)
				continue
			}
			if m.Key != key {
				t.Errorf("message %q: Key %q, want %q (from metadata partitionKey)", m.Data, m.Key, key)
			}
			switch want := next[key]; {
			case i == want:
				next[key]++
				received++
			case i < want:
				s.unexpected(t, m, true)
			default:
				t.Fatalf("key %s: message %d arrived while %d was expected next", key, i, want)
			}
		}
	}
}

// testCloseInFlight closes an input holding unsettled messages and checks
// that a new input gets exactly those, counted as redeliveries.
func (s *suite) testCloseInFlight(t *testing.T, ctx context.Context) {
	md := s.metadata(t)
	first := s.openInput(t, ctx, md)
	sendTo := s.sender(t, ctx, md)
	run := Unique("inflight")
	ps := payloads(run, 5)
	sendAll(t, ctx, sendTo, ps)

	held := s.expect(t, ctx, first, ps, false)
	for _, p := range ps[:2] {
		ack(t, ctx, first, held[p])
	}
	counts := map[string]int{}
	for _, p := range ps[2:] {
		counts[p] = held[p].DeliveryCount
	}
	if err := first.Close(); err != nil {
		t.Errorf("Close with messages in flight: %v", err)
	}

	second := s.openInput(t, ctx, md)
	back := s.expect(t, ctx, second, ps[2:], true)
	if s.cap.DeliveryCount {
		for p, m := range back {
			if m.DeliveryCount != counts[p]+1 {
				t.Errorf("message %q: DeliveryCount %d after its input closed, want %d", p, m.DeliveryCount, counts[p]+1)
			}
		}
	}
	s.expectNothingBut(t, ctx, second, sendTo, run)
}

// testConcurrentConsumers sends Messages messages from several goroutines to
// several inputs at once and counts every one: none may be lost, and none
// duplicated unless the type declares Duplicates. It is bounded by progress
// (see concurrentBound), so a slow machine makes it slow, not failed.
func (s *suite) testConcurrentConsumers(t *testing.T, ctx context.Context) {
	begun := time.Now()
	const inputs, senders = 4, 4
	md := s.metadata(t)
	ins := make([]bindings.Input, inputs)
	for i := range ins {
		replica := md
		if s.c.Replica != nil {
			replica = s.c.Replica(maps.Clone(md), i)
		}
		ins[i] = s.openInput(t, ctx, replica)
	}
	sendTo := s.sender(t, ctx, md)
	run := Unique("concurrent")
	n := s.c.Messages
	limit := 1
	if s.cap.BatchReceive {
		limit = batchLimit
	}

	// The goroutines report through c, never through t: one stuck in a
	// driver that ignores its context may outlive the test.
	c := newCounter(n)
	recvCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{}, inputs+senders)
	for i, in := range ins {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				msgs, err := in.Receive(recvCtx, limit)
				if err != nil {
					if recvCtx.Err() == nil {
						c.fail("input %d: Receive: %v", i, err)
					}
					return
				}
				for _, m := range msgs {
					if m == nil {
						c.fail("input %d: Receive returned a nil message", i)
						continue
					}
					if err := in.Ack(ctx, m); err != nil {
						c.fail("input %d: Ack %q: %v", i, short(m.Data), err)
					}
					if c.add(run, i, m) {
						stop()
					}
				}
			}
		}()
	}
	for g := range senders {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := g; i < n; i += senders {
				if err := sendTo(recvCtx, &bindings.InvokeRequest{Data: []byte(fmt.Sprintf("%s/%d", run, i))}); err != nil {
					if recvCtx.Err() == nil {
						c.fail("send %d: %v", i, err)
						stop()
					}
					return
				}
				c.sentOne(i)
			}
		}()
	}
	// Wait for every message counted, a failure, the bound, or a Timeout
	// with nothing sent or delivered.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for recvCtx.Err() == nil {
		select {
		case <-recvCtx.Done():
		case <-tick.C:
			if idle := c.idle(); idle >= s.c.Timeout {
				c.stall(idle)
				stop()
			}
		}
	}
	if ctx.Err() != nil {
		c.fail("not done when its bound ran out, after %v (messages were still moving)", time.Since(begun).Round(time.Second))
	}
	grace := time.NewTimer(10 * time.Second)
	defer grace.Stop()
	for range inputs + senders {
		select {
		case <-done:
		case <-grace.C:
			c.fail("a Receive or send did not return within 10s of its context's end")
			c.report(t, s.cap.Duplicates)
			return
		}
	}
	c.report(t, s.cap.Duplicates)
}
