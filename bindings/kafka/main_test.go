package kafka_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

// TestMain runs the tests or, re-executed, the package's shared Kafka
// broker (brokerEnv, see serveBroker) or the fault test's function process
// (which reaches the broker over loopback).
func TestMain(m *testing.M) {
	if os.Getenv(brokerEnv) != "" {
		serveBroker()
	}
	faulttest.Main(m)
}

// cluster is a Kafka cluster (franz-go's kfake, a real Kafka-protocol
// broker) on loopback: the shared one runs in a process of its own
// (startBrokerProcess); the fault test's own runs in this process, on a
// fixed port, so that a restart (with kfake.DataDir) comes back where
// clients look for it.
type cluster struct {
	c     *kfake.Cluster // nil for the broker process
	opts  []kfake.Opt
	addr  string
	admin *kadm.Client

	// The broker process's stdin, held open for as long as this process
	// lives: the broker stops when it closes.
	stdin io.Closer
}

func startCluster(opts ...kfake.Opt) (*cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	k := &cluster{opts: append(opts, kfake.Ports(port))}
	return k, k.start()
}

func (k *cluster) start() error {
	c, err := kfake.NewCluster(k.opts...)
	if err != nil {
		return err
	}
	addr := c.ListenAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		c.Close()
		return err
	}
	k.c, k.addr, k.admin = c, addr, kadm.NewClient(cl)
	return nil
}

// brokerEnv, set, makes the test binary serveBroker.
const brokerEnv = "TETHER_KAFKA_TEST_BROKER"

// serveBroker is the shared cluster's process: it writes the cluster's
// address as its first line on stdout and serves until its stdin closes,
// which happens when the test process that started it ends, however it
// ends. The cluster has one broker, and the short session the fault test's
// function process uses, so that the group gets over a SIGKILLed member
// quickly.
func serveBroker() {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Println(c.ListenAddrs()[0])
	_, _ = io.Copy(io.Discard, os.Stdin)
	c.Close()
	os.Exit(0)
}

// startBrokerProcess starts the shared cluster in a process of its own,
// this test binary run again as serveBroker. Every other broker the tests
// and benchmarks use runs outside the test process, and so does this one:
// in it, the broker's goroutines, its heap (every record the benchmarks
// write, kept) and its garbage collection would share the two Ps with the
// consumers the benchmarks time.
func startBrokerProcess() (*cluster, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), brokerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stdin.Close()
		return nil, fmt.Errorf("kfake process: %v (exit: %v)", err, cmd.Wait())
	}
	addr := strings.TrimSpace(line)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		stdin.Close()
		return nil, err
	}
	return &cluster{addr: addr, admin: kadm.NewClient(cl), stdin: stdin}, nil
}

// close stops the cluster; once is enough, as after a failed restart.
func (k *cluster) close() {
	if k.c == nil {
		return
	}
	k.admin.Close()
	k.c.Close()
	k.c, k.admin = nil, nil
}

// restart stops the cluster and starts it again on the same port; with
// kfake.DataDir it comes back with its topics, records and commits.
func (k *cluster) restart(t testing.TB) {
	t.Helper()
	k.close()
	if err := k.start(); err != nil {
		t.Fatalf("restart kfake: %v", err)
	}
}

// shared is the package's cluster, started by the first test that needs
// it.
var shared struct {
	once sync.Once
	k    *cluster
	err  error
}

func sharedCluster(t testing.TB) *cluster {
	t.Helper()
	shared.once.Do(func() { shared.k, shared.err = startBrokerProcess() })
	if shared.err != nil {
		t.Fatalf("kfake cluster: %v", shared.err)
	}
	return shared.k
}

func brokers(t testing.TB) string { return sharedCluster(t).addr }

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
	return sharedCluster(t).newTopic(t, prefix, partitions)
}

func (k *cluster) newTopic(t testing.TB, prefix string, partitions int32) string {
	t.Helper()
	topic := bindingtest.Unique(prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := k.admin.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	return topic
}

// committed returns the group's committed offsets of topic by partition, on
// the shared cluster.
func committed(t testing.TB, group, topic string) map[int32]int64 {
	return sharedCluster(t).committed(t, group, topic)
}

func (k *cluster) committed(t testing.TB, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := k.admin.FetchOffsets(ctx, group)
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
