package kafka_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/kafka"
	"github.com/tetherfn/tether/bindings/memory"
)

func openOutput(t testing.TB, topic string, extra ...string) bindings.Output {
	t.Helper()
	md := map[string]string{"brokers": brokers(t), "publishTopic": topic}
	for i := 0; i+1 < len(extra); i += 2 {
		md[extra[i]] = extra[i+1]
	}
	out, _, err := bindings.OpenOutput(testContext(t), bindings.Config{Name: "out", Type: kafka.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("OpenOutput: %v", err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

// consume reads n records of topic from the start, without a group.
func consume(t testing.TB, ctx context.Context, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers(t)), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollRecords(ctx, n-len(recs))
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s: %v after %d of %d records", topic, err, len(recs), n)
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}

func header(r *kgo.Record, name string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == name {
			return string(h.Value), true
		}
	}
	return "", false
}

func TestOutputWritesKeyPartitionHeaders(t *testing.T) {
	ctx := testContext(t)
	topic := newTopic(t, "out", 4)
	out := openOutput(t, topic)

	invoke := func(md map[string]string, ct string) *bindings.InvokeResponse {
		t.Helper()
		resp, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("v"), ContentType: ct, Metadata: md})
		if err != nil {
			t.Fatalf("Invoke %v: %v", md, err)
		}
		return resp
	}
	keyed1 := invoke(map[string]string{"key": "order-7", "source": "test"}, "text/plain")
	keyed2 := invoke(map[string]string{"partitionKey": "order-7"}, "")
	pinned := invoke(map[string]string{"partition": "3", "key": "order-7"}, "")
	relayed := invoke(map[string]string{"__key": "order-7", "__topic": "forged", "__offset": "99"}, "")

	if keyed1.Metadata["partition"] != keyed2.Metadata["partition"] || keyed1.Metadata["partition"] != relayed.Metadata["partition"] {
		t.Errorf("one key, several partitions: %v %v %v", keyed1.Metadata, keyed2.Metadata, relayed.Metadata)
	}
	if pinned.Metadata["partition"] != "3" || pinned.Metadata["topic"] != topic {
		t.Errorf("partition 3 asked, response %v", pinned.Metadata)
	}
	// Kafka's default partitioner (murmur2 of the key), as other clients.
	if want := kgo.StickyKeyPartitioner(nil).ForTopic(topic).Partition(&kgo.Record{Key: []byte("order-7")}, 4); keyed1.Metadata["partition"] != strconv.Itoa(want) {
		t.Errorf("key order-7 went to partition %s, Kafka's hash says %d", keyed1.Metadata["partition"], want)
	}

	recs := consume(t, ctx, topic, 4)
	byOffset := map[string]*kgo.Record{}
	for _, r := range recs {
		byOffset[strconv.Itoa(int(r.Partition))+"/"+strconv.Itoa(int(r.Offset))] = r
	}
	first := byOffset[keyed1.Metadata["partition"]+"/"+keyed1.Metadata["offset"]]
	if first == nil || string(first.Key) != "order-7" {
		t.Fatalf("record at %v not found or without its key: %v", keyed1.Metadata, first)
	}
	if v, _ := header(first, "source"); v != "test" {
		t.Errorf("header source = %q", v)
	}
	if v, _ := header(first, "content-type"); v != "text/plain" {
		t.Errorf("header content-type = %q", v)
	}
	for _, name := range []string{"key", "partitionKey", "partition", "__key", "__topic", "__offset"} {
		for _, r := range recs {
			if _, ok := header(r, name); ok {
				t.Errorf("metadata %q was written as a header", name)
			}
		}
	}
}

func TestOutputRejectsBadPartitions(t *testing.T) {
	ctx := testContext(t)
	topic := newTopic(t, "badpart", 2)
	out := openOutput(t, topic)
	for _, p := range []string{"two", "-1", "7"} {
		_, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("v"), Metadata: map[string]string{"partition": p}})
		if err == nil {
			t.Errorf("partition %q of a 2-partition topic accepted", p)
		}
	}
}

func TestClientProduces(t *testing.T) {
	ctx := testContext(t)
	topic := newTopic(t, "client", 3)
	out := openOutput(t, topic)

	var c kafka.Client
	if err := c.BindOutput(bindings.OutputBinding{Name: "events", Type: &kafka.Type, Output: out}); err != nil {
		t.Fatal(err)
	}
	p, err := c.Produce(ctx, []byte(`{"id":1}`), kafka.WithKey("k1"), kafka.WithPartition(2),
		kafka.WithHeaders(map[string]string{"a": "1"}), kafka.WithHeader("b", "2"), kafka.WithContentType("application/json"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Topic != topic || p.Partition != 2 || p.Offset != 0 {
		t.Errorf("Produced %+v, want %s/2 at 0", p, topic)
	}
	r := consume(t, ctx, topic, 1)[0]
	a, _ := header(r, "a")
	b, _ := header(r, "b")
	ct, _ := header(r, "content-type")
	if string(r.Key) != "k1" || r.Partition != 2 || a != "1" || b != "2" || ct != "application/json" || string(r.Value) != `{"id":1}` {
		t.Errorf("record %+v", r)
	}
}

func TestClientRefusesOtherTypes(t *testing.T) {
	var c kafka.Client
	memType, _ := bindings.Lookup(memory.TypeName)
	err := c.BindOutput(bindings.OutputBinding{Name: "jobs", Type: memType, Output: nopOutput{}})
	if err == nil {
		t.Fatal("a bindings.memory component was accepted")
	}
	for _, want := range []string{`"jobs"`, memory.TypeName, kafka.TypeName} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := new(kafka.Client).Produce(context.Background(), nil); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Produce on an unbound client: %v", err)
	}
}

type nopOutput struct{}

func (nopOutput) Invoke(context.Context, *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	return nil, nil
}
func (nopOutput) Close() error { return nil }
