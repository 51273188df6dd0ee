package kafka_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/kafka"
)

// inputMetadata is the metadata of an input on topic, consuming as group
// from the oldest offset, plus extra key/value pairs.
func inputMetadata(t testing.TB, topic, group string, extra ...string) map[string]string {
	md := map[string]string{
		"brokers": brokers(t), "topics": topic, "consumerGroup": group, "initialOffset": "oldest",
		// Short sessions: a test's second member joins quickly.
		"sessionTimeout": "3s", "heartbeatInterval": "500ms",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		md[extra[i]] = extra[i+1]
	}
	return md
}

func openInput(t testing.TB, md map[string]string) bindings.Input {
	t.Helper()
	in, _, err := bindings.OpenInput(testContext(t), bindings.Config{Name: "in", Type: kafka.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("OpenInput: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// receive returns exactly n messages, in the order received.
func receive(t testing.TB, ctx context.Context, in bindings.Input, n int) []*bindings.Message {
	t.Helper()
	var got []*bindings.Message
	for len(got) < n {
		msgs, err := in.Receive(ctx, n-len(got))
		if err != nil {
			t.Fatalf("Receive: %v, after %d of %d messages", err, len(got), n)
		}
		got = append(got, msgs...)
	}
	if len(got) > n {
		t.Fatalf("received %d messages, asked for %d", len(got), n)
	}
	return got
}

func payloads(msgs []*bindings.Message) string {
	s := make([]string, len(msgs))
	for i, m := range msgs {
		s[i] = fmt.Sprintf("%s(#%d)", m.Data, m.DeliveryCount)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func ack(t testing.TB, ctx context.Context, in bindings.Input, msgs ...*bindings.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := in.Ack(ctx, m); err != nil {
			t.Fatalf("Ack %s: %v", m.Data, err)
		}
	}
}

// untilSentinel receives until a message with payload sentinel and returns
// everything received, acking it all.
func untilSentinel(t testing.TB, ctx context.Context, in bindings.Input, sentinel string) []*bindings.Message {
	t.Helper()
	var got []*bindings.Message
	for {
		msgs, err := in.Receive(ctx, 10)
		if err != nil {
			t.Fatalf("Receive: %v, waiting for %s after %s", err, sentinel, payloads(got))
		}
		ack(t, ctx, in, msgs...)
		got = append(got, msgs...)
		if slices.ContainsFunc(msgs, func(m *bindings.Message) bool { return string(m.Data) == sentinel }) {
			return got
		}
	}
}

// TestCommitStopsAtTheFirstUnackedRecord, and the next member skips the
// records acked after it, ordered or not (ordered, it hands out one record at
// a time, and a skipped one must not end its turn).
func TestCommitStopsAtTheFirstUnackedRecord(t *testing.T) {
	for _, ordered := range []string{"false", "true"} {
		t.Run("ordered="+ordered, func(t *testing.T) { commitStopsAtTheFirstUnackedRecord(t, ordered) })
	}
}

func commitStopsAtTheFirstUnackedRecord(t *testing.T, ordered string) {
	ctx := testContext(t)
	topic := newTopic(t, "commit", 1)
	produce(t, topic, records(0, "r", 10)...)

	in := openInput(t, inputMetadata(t, topic, topic))
	msgs := receive(t, ctx, in, 10)
	for i, m := range msgs {
		if want := fmt.Sprintf("r-%d", i); string(m.Data) != want || m.DeliveryCount != 1 {
			t.Fatalf("message %d: %s (delivery %d), want %s (delivery 1)", i, m.Data, m.DeliveryCount, want)
		}
		if i != 4 {
			ack(t, ctx, in, m)
		}
	}
	in.Close()
	if got := committed(t, topic, topic)[0]; got != 4 {
		t.Fatalf("committed offset %d after acking all but offset 4; want 4", got)
	}

	// The next member gets offset 4 again, counted, and skips 5..9, which
	// the commit metadata says were acked.
	again := openInput(t, inputMetadata(t, topic, topic, "ordered", ordered))
	produce(t, topic, &kgo.Record{Partition: 0, Value: []byte("sentinel")})
	got := untilSentinel(t, ctx, again, "sentinel")
	if len(got) != 2 || string(got[0].Data) != "r-4" || got[0].DeliveryCount != 2 {
		t.Fatalf("after the restart: %s; want r-4(#2) then the sentinel", payloads(got))
	}
	again.Close()
	if got := committed(t, topic, topic)[0]; got != 11 {
		t.Errorf("committed offset %d after acking everything; want 11", got)
	}
}

func TestNackDoesNotHoldThePartition(t *testing.T) {
	ctx := testContext(t)
	topic := newTopic(t, "nack", 1)
	produce(t, topic, records(0, "r", 3)...)

	in := openInput(t, inputMetadata(t, topic, topic))
	first := receive(t, ctx, in, 3)
	if err := in.Nack(ctx, first[0], time.Hour); err != nil {
		t.Fatal(err)
	}
	ack(t, ctx, in, first[1:]...)
	// Later records flow past the nacked one.
	produce(t, topic, &kgo.Record{Partition: 0, Value: []byte("r-3")})
	if got := receive(t, ctx, in, 1); string(got[0].Data) != "r-3" {
		t.Fatalf("after a nack: %s, want r-3", payloads(got))
	} else {
		ack(t, ctx, in, got[0])
	}
	if err := in.Ack(ctx, first[0]); err == nil {
		t.Error("Ack of a nacked message succeeded; it is the driver's until redelivered")
	}
	in.Close()
	if got := committed(t, topic, topic)[0]; got != 0 {
		t.Fatalf("committed offset %d with offset 0 nacked; want 0", got)
	}

	again := openInput(t, inputMetadata(t, topic, topic))
	produce(t, topic, &kgo.Record{Partition: 0, Value: []byte("sentinel")})
	got := untilSentinel(t, ctx, again, "sentinel")
	if len(got) != 2 || string(got[0].Data) != "r-0" || got[0].DeliveryCount != 2 {
		t.Fatalf("after the restart: %s; want r-0(#2) then the sentinel", payloads(got))
	}
}

func TestOrderedInputHandsOutOneRecordPerPartition(t *testing.T) {
	ctx := testContext(t)
	// Partition 2 stays empty until the sentinel below.
	topic := newTopic(t, "ordered", 3)
	produce(t, topic, append(records(0, "p0", 3), records(1, "p1", 3)...)...)

	in := openInput(t, inputMetadata(t, topic, topic, "ordered", "true"))
	head := map[string]*bindings.Message{} // the partition's message out
	for len(head) < 2 {
		msgs, err := in.Receive(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if prev := head[m.Key]; prev != nil {
				t.Fatalf("partition %s: %s handed out while %s is unsettled", m.Key, m.Data, prev.Data)
			}
			head[m.Key] = m
		}
	}
	// With every record-holding partition's head out, a sentinel on the
	// idle partition must be the next thing handed out.
	produce(t, topic, &kgo.Record{Partition: 2, Value: []byte("sentinel")})
	if got := untilSentinel(t, ctx, in, "sentinel"); len(got) != 1 {
		t.Fatalf("every partition has a record out, but Receive returned %s", payloads(got))
	}

	p0 := topic + "/0"
	if string(head[p0].Data) != "p0-0" {
		t.Fatalf("partition 0 started with %s", head[p0].Data)
	}
	if err := in.Nack(ctx, head[p0], 0); err != nil {
		t.Fatal(err)
	}
	// The nacked record comes back before anything after it.
	next := receive(t, ctx, in, 1)[0]
	if string(next.Data) != "p0-0" || next.DeliveryCount != 2 || next.Key != p0 {
		t.Fatalf("after nacking p0-0: %s(#%d) key %s, want p0-0(#2) key %s", next.Data, next.DeliveryCount, next.Key, p0)
	}
	ack(t, ctx, in, next)
	delete(head, p0)

	want := map[string]int{p0: 1, topic + "/1": 1}
	if m := head[topic+"/1"]; m != nil {
		ack(t, ctx, in, m)
	}
	for received := 0; received < 4; received++ {
		m := receive(t, ctx, in, 1)[0]
		if exp := fmt.Sprintf("p%s-%d", strings.TrimPrefix(m.Key, topic+"/"), want[m.Key]); string(m.Data) != exp {
			t.Fatalf("partition %s: got %s, want %s", m.Key, m.Data, exp)
		}
		want[m.Key]++
		ack(t, ctx, in, m)
	}
}

func TestOrderingPerPartition(t *testing.T) {
	ctx := testContext(t)
	topic := newTopic(t, "keys", 4)
	in := openInput(t, inputMetadata(t, topic, topic))
	out := openOutput(t, topic)

	const keys, perKey = 6, 20
	for i := range perKey {
		for k := range keys {
			req := &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: fmt.Appendf(nil, "k%d %d", k, i),
				Metadata: map[string]string{"partitionKey": fmt.Sprintf("k%d", k), "trace": "t" + strconv.Itoa(i)}}
			if _, err := out.Invoke(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
	}
	next := map[string]int{}
	keyOf := map[string]string{} // partitionKey -> Message.Key
	for _, m := range receive(t, ctx, in, keys*perKey) {
		ack(t, ctx, in, m)
		var k string
		var i int
		if _, err := fmt.Sscanf(string(m.Data), "%s %d", &k, &i); err != nil {
			t.Fatalf("unexpected message %s", m.Data)
		}
		if i != next[k] {
			t.Fatalf("key %s: %d arrived while %d was next", k, i, next[k])
		}
		next[k]++
		if prev, ok := keyOf[k]; ok && prev != m.Key {
			t.Errorf("key %s: records under Keys %s and %s", k, prev, m.Key)
		}
		keyOf[k] = m.Key
		md := m.ReadMetadata()
		if m.Key != md[kafka.InTopic]+"/"+md[kafka.InPartition] || md[kafka.InTopic] != topic {
			t.Errorf("Key %s, metadata topic %s partition %s", m.Key, md[kafka.InTopic], md[kafka.InPartition])
		}
		if m.ID != m.Key+"/"+md[kafka.InOffset] {
			t.Errorf("ID %s, want <topic>/<partition>/<offset>", m.ID)
		}
		if md[kafka.InKey] != k || md["trace"] != "t"+strconv.Itoa(i) {
			t.Errorf("metadata %v: want __key %s and the trace header", md, k)
		}
		if ms, err := strconv.ParseInt(md[kafka.InTimestamp], 10, 64); err != nil || ms != m.Time.UnixMilli() || m.Time.IsZero() {
			t.Errorf("__timestamp %s, Time %v", md[kafka.InTimestamp], m.Time)
		}
		if _, ok := md["partitionKey"]; ok {
			t.Errorf("the record key went out as a header too: %v", md)
		}
	}
}

// TestMetadataIsBuiltOnceOnDemand: the metadata map is left to the first
// reader (the field stays nil), and readers on several goroutines at once
// (run with -race) get one and the same map.
func TestMetadataIsBuiltOnceOnDemand(t *testing.T) {
	ctx := testContext(t)
	topic := newTopic(t, "lazy", 1)
	in := openInput(t, inputMetadata(t, topic, topic))
	produce(t, topic, &kgo.Record{Partition: 0, Key: []byte("k"), Value: []byte("v"), Headers: []kgo.RecordHeader{
		{Key: "content-type", Value: []byte("text/plain")}, {Key: "h", Value: []byte("1")}, {Key: "content-type", Value: []byte("application/json")},
	}})
	m := receive(t, ctx, in, 1)[0]
	if m.Metadata != nil {
		t.Fatalf("Metadata built with the message: %v", m.Metadata)
	}
	if m.ContentType != "application/json" {
		t.Errorf("ContentType %q, want the last content-type header's", m.ContentType)
	}
	got := make(chan map[string]string, 4)
	for range cap(got) {
		go func() { got <- m.ReadMetadata() }()
	}
	first := <-got
	for range cap(got) - 1 {
		if md := <-got; reflect.ValueOf(md).UnsafePointer() != reflect.ValueOf(first).UnsafePointer() {
			t.Fatal("concurrent readers got different maps")
		}
	}
	if _, ok := first["content-type"]; ok || first["h"] != "1" || first[kafka.InKey] != "k" || first[kafka.InOffset] != "0" || first[kafka.InTopic] != topic {
		t.Errorf("metadata %v", first)
	}
	ack(t, ctx, in, m)
}

// TestRevocationCountsAcksInGrace: a member that acks its records while a new
// member joins commits them: the new member gets none of them again.
func TestRevocationCountsAcksInGrace(t *testing.T) {
	ctx := testContext(t)
	topic := newTopic(t, "revoke", 4)
	for p := range int32(4) {
		produce(t, topic, records(p, fmt.Sprintf("p%d", p), 2)...)
	}
	a := openInput(t, inputMetadata(t, topic, topic))
	held := receive(t, ctx, a, 8)

	b := openInput(t, inputMetadata(t, topic, topic))
	ack(t, ctx, a, held...)
	checkOnlySentinels(t, ctx, topic, a, b)
}

// checkOnlySentinels sends one sentinel per partition and receives from both
// members until all arrived: anything else is a record delivered twice.
func checkOnlySentinels(t *testing.T, ctx context.Context, topic string, members ...bindings.Input) {
	t.Helper()
	for p := range int32(4) {
		produce(t, topic, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "sentinel-%d", p)})
	}
	var mu sync.Mutex
	seen := map[string]int{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, in := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				msgs, err := in.Receive(ctx, 10)
				if err != nil {
					return
				}
				mu.Lock()
				for _, m := range msgs {
					seen[string(m.Data)]++
					in.Ack(ctx, m)
				}
				sentinels := 0
				for k := range seen {
					if strings.HasPrefix(k, "sentinel-") {
						sentinels++
					}
				}
				mu.Unlock()
				if sentinels == 4 {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	if t.Context().Err() == nil && len(seen) < 4 {
		t.Fatalf("timed out; received %v", seen)
	}
	for k, n := range seen {
		if !strings.HasPrefix(k, "sentinel-") || n != 1 {
			t.Errorf("received %s %d times", k, n)
		}
	}
}

// TestLateAckAfterRevocationIsIgnored: records still out when the grace
// runs out go to the new owner, counted; the old member's late acks neither
// fail nor commit anything.
func TestLateAckAfterRevocationIsIgnored(t *testing.T) {
	defer kafka.SetRevokeGrace(100 * time.Millisecond)()
	ctx := testContext(t)
	topic := newTopic(t, "late", 4)
	for p := range int32(4) {
		produce(t, topic, records(p, fmt.Sprintf("p%d", p), 2)...)
	}
	a := openInput(t, inputMetadata(t, topic, topic))
	held := receive(t, ctx, a, 8)

	b := openInput(t, inputMetadata(t, topic, topic))
	// b gets the records of the partitions that moved, as redeliveries.
	moved := map[string]*bindings.Message{}
	for len(moved) < 2 { // cooperative-sticky moves two of the four
		for _, m := range receive(t, ctx, b, 1) {
			if m.DeliveryCount != 2 {
				t.Errorf("%s delivered to the new owner with DeliveryCount %d, want 2", m.Data, m.DeliveryCount)
			}
			moved[string(m.Data)] = m
		}
	}
	// They were nothing's yet: the late acks of a must not commit them.
	ack(t, ctx, a, held...)
	for p, off := range committed(t, topic, topic) {
		for _, m := range moved {
			if m.ReadMetadata()[kafka.InPartition] == strconv.Itoa(int(p)) && off > 0 {
				t.Errorf("partition %d committed at %d by late acks of its old owner, while %s is unsettled", p, off, m.Data)
			}
		}
	}
	// Everything received once b has it all: b holds the moved partitions'
	// records, a's acks count for the ones it kept.
	rest := 2 * 2 // two records per moved partition
	got := maps.Clone(moved)
	for len(got) < rest {
		for _, m := range receive(t, ctx, b, 1) {
			got[string(m.Data)] = m
		}
	}
	for _, m := range got {
		ack(t, ctx, b, m)
	}
	checkOnlySentinels(t, ctx, topic, a, b)
}
