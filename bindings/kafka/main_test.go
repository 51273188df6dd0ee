package kafka_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/internal/faulttest"
)

// TestMain runs the tests, or, re-executed by the fault test, the function
// process (which reaches this process's kfake cluster over loopback).
func TestMain(m *testing.M) { faulttest.Main(m) }

// shared is the package's in-process Kafka cluster (franz-go's kfake, a real
// Kafka-protocol broker), started by the first test that needs it, on a free
// loopback port so that function processes the fault test starts can reach
// it.
var shared struct {
	once  sync.Once
	c     *kfake.Cluster
	addr  string
	admin *kadm.Client
	err   error
}

func brokers(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		port, err := freePort()
		if err != nil {
			shared.err = err
			return
		}
		shared.c, shared.err = kfake.NewCluster(
			kfake.Ports(port),
			// The fault test's function process uses a short session so
			// that the group gets over a SIGKILLed member quickly.
			kfake.GroupMinSessionTimeout(500*time.Millisecond),
		)
		if shared.err != nil {
			return
		}
		shared.addr = shared.c.ListenAddrs()[0]
		cl, err := kgo.NewClient(kgo.SeedBrokers(shared.addr))
		if err != nil {
			shared.err = err
			return
		}
		shared.admin = kadm.NewClient(cl)
	})
	if shared.err != nil {
		t.Fatalf("kfake cluster: %v", shared.err)
	}
	return shared.addr
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// newTopic creates a topic with a unique name on the shared cluster.
func newTopic(t testing.TB, prefix string, partitions int32) string {
	t.Helper()
	brokers(t)
	topic := bindingtest.Unique(prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := shared.admin.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	return topic
}

// committed returns the group's committed offsets of topic by partition.
func committed(t testing.TB, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := shared.admin.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of group %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, o := range offs[topic] {
		if o.Err != nil {
			t.Fatalf("committed offset of %s/%d: %v", topic, p, o.Err)
		}
		out[p] = o.At
	}
	return out
}

// produce writes records straight to the cluster, each with the given key
// (or none) to the given partition (or the key's).
func produce(t testing.TB, topic string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers(t)), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// records returns n records numbered from 0 into partition p.
func records(p int32, prefix string, n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
	}
	return recs
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}
