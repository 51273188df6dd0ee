package emulate

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/kafka"
	"github.com/tetherfn/tether/bindings/mqtt"
	"github.com/tetherfn/tether/bindings/nats"
	"github.com/tetherfn/tether/bindings/pubsub"
	"github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/bindings/sqs"
)

// The conformance suite runs against each emulator, with metadata that
// names only the destination and takes everything else from the
// emulator's overrides, as tether dev does with a component file.

// messages is the concurrency subtest's count: the bindings' own tests
// run the full suite against real brokers (and kfake, pstest); here it is
// the emulator and its overrides that are checked.
const messages = 1000

var running struct {
	sync.Mutex
	servers map[string]server
}

// emulator returns the package test binary's emulator of typ, started on
// first use and left running until the binary exits.
func emulator(t testing.TB, typ string) server {
	t.Helper()
	running.Lock()
	defer running.Unlock()
	if s, ok := running.servers[typ]; ok {
		return s
	}
	s, err := backends[typ].start(Options{Dir: ""})
	if err != nil {
		t.Fatalf("start the %s emulator: %v", typ, err)
	}
	if running.servers == nil {
		running.servers = map[string]server{}
	}
	running.servers[typ] = s
	return s
}

// config returns the suite's configuration for typ, whose Metadata lays
// the emulator's overrides over dest(name) and prepares the emulator.
func config(typ string, dest func(name string) map[string]string) bindingtest.Config {
	return bindingtest.Config{
		Type: typ,
		Metadata: func(t *testing.T) map[string]string {
			s := emulator(t, typ)
			md := dest(bindingtest.Unique("emu"))
			md = overlay(md, s.override(md))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.prepare(ctx, md); err != nil {
				t.Fatal(err)
			}
			return md
		},
		Messages: messages,
	}
}

func TestTypeNames(t *testing.T) {
	for _, name := range []string{kafka.TypeName, pubsub.TypeName, nats.TypeName, mqtt.TypeName, redis.TypeName, sqs.TypeName} {
		if !Covers(name) {
			t.Errorf("Covers(%q) = false", name)
		}
	}
	if len(Types()) != 6 {
		t.Errorf("Types() = %v, want the 6 above", Types())
	}
}

func TestConformanceKafka(t *testing.T) {
	c := config(kafka.TypeName, func(name string) map[string]string {
		return map[string]string{"brokers": "unused:9092", "topics": name, "publishTopic": name, "consumerGroup": name, "initialOffset": "oldest"}
	})
	c.Skip = map[string]string{bindingtest.TestOrdering: "Message.Key is \"<topic>/<partition>\", the unit Kafka orders, not the partitionKey sent (as in bindings/kafka)"}
	bindingtest.Run(t, c)
}

func TestConformancePubsub(t *testing.T) {
	c := config(pubsub.TypeName, func(name string) map[string]string {
		return map[string]string{"topic": name, "subscription": name + "-sub", "enableMessageOrdering": "true"}
	})
	bindingtest.Run(t, c)
}

func TestConformanceNATS(t *testing.T) {
	bindingtest.Run(t, config(nats.TypeName, func(name string) map[string]string {
		return map[string]string{"natsURL": "nats://unused:4222", "stream": "TETHER_" + name, "subject": "tether." + name}
	}))
}

func TestConformanceMQTT(t *testing.T) {
	c := config(mqtt.TypeName, func(name string) map[string]string {
		return map[string]string{"url": "tcp://unused:1883", "topic": "tether/" + name, "consumerID": name}
	})
	c.Skip = map[string]string{bindingtest.TestConcurrentConsumers: "nats-server's MQTT has no shared subscriptions ($share/), so replicas of one function cannot split a topic; tether dev runs one process per function"}
	bindingtest.Run(t, c)
}

func TestConformanceRedis(t *testing.T) {
	bindingtest.Run(t, config(redis.TypeName, func(name string) map[string]string {
		return map[string]string{"redisHost": "unused:6379", "stream": name}
	}))
}

func TestConformanceSQS(t *testing.T) {
	t.Run("standard", func(t *testing.T) {
		c := config(sqs.TypeName, func(name string) map[string]string { return map[string]string{"queueName": name} })
		c.Skip = map[string]string{bindingtest.TestOrdering: "standard queues keep no order; the FIFO run checks it"}
		bindingtest.Run(t, c)
	})
	t.Run("fifo", func(t *testing.T) {
		bindingtest.Run(t, config(sqs.TypeName, func(name string) map[string]string { return map[string]string{"queueName": name + ".fifo"} }))
	})
}

// TestStart points the components tether new writes (which name brokers on
// their default local ports, none of which this test starts) at emulators,
// and opens and uses each of them through its overrides.
func TestStart(t *testing.T) {
	// Secret addresses come from the environment: nothing listens there.
	t.Setenv("ORDERS_MQTT3_URL", "tcp://127.0.0.1:1")
	t.Setenv("ORDERS_NATS_NATS_URL", "nats://127.0.0.1:1")
	set := bindingtest.Scaffold(t, "aws.sqs", "kafka", "gcp.pubsub", "nats", "mqtt3", "redis")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	emus, err := Start(ctx, set.Components(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer emus.Close()
	if got := len(emus.Emulators()); got != 6 {
		t.Errorf("%d emulators started, want one per type: %v", got, emus.Emulators())
	}
	for _, c := range set.Components() {
		md := emus.Apply(c)
		if len(emus.Overrides()[c.Name]) == 0 {
			t.Errorf("component %s has no overrides", c.Name)
		}
		cfg := bindings.Config{Name: c.Name, Type: c.Type, Metadata: md}
		if c.Direction.Has(bindings.DirInput) {
			in, _, err := bindings.OpenInput(ctx, cfg)
			if err != nil {
				t.Errorf("open input %s on its emulator: %v", c.Name, err)
				continue
			}
			_ = in.Close()
		}
		if c.Direction.Has(bindings.DirOutput) {
			out, _, err := bindings.OpenOutput(ctx, cfg)
			if err != nil {
				t.Errorf("open output %s on its emulator: %v", c.Name, err)
				continue
			}
			// MQTT's scaffolded topic is a filter: the call names a topic.
			req := &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte(`{"hello":1}`)}
			if c.Binding.Name == mqtt.TypeName {
				req.Metadata = map[string]string{"topic": "devices/1/readings"}
			}
			if _, err := out.Invoke(ctx, req); err != nil {
				t.Errorf("send through %s to its emulator: %v", c.Name, err)
			}
			_ = out.Close()
		}
	}
	if err := emus.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := emus.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestDirKeepsMessages: with Options.Dir, Kafka's and JetStream's messages
// outlive a restart of the emulators, as tether dev's state does.
func TestDirKeepsMessages(t *testing.T) {
	name := bindingtest.Unique("keep")
	set := bindingtest.LoadComponents(t,
		bindingtest.ComponentYAML("k", kafka.TypeName, map[string]string{"brokers": "127.0.0.1:1", "topics": name, "publishTopic": name,
			"consumerGroup": name, "initialOffset": "oldest"}),
		bindingtest.ComponentYAML("n", nats.TypeName, map[string]string{"natsURL": "nats://127.0.0.1:1", "stream": "KEEP_" + name, "subject": "keep." + name}),
	)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	emus, err := Start(ctx, set.Components(), &Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range set.Components() {
		out, _, err := bindings.OpenOutput(ctx, bindings.Config{Name: c.Name, Type: c.Type, Metadata: emus.Apply(c)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("kept by " + c.Name)}); err != nil {
			t.Fatal(err)
		}
		_ = out.Close()
	}
	if err := emus.Close(); err != nil {
		t.Fatal(err)
	}
	emus, err = Start(ctx, set.Components(), &Options{Dir: dir})
	if err != nil {
		t.Fatalf("restart on the same folder: %v", err)
	}
	defer emus.Close()
	for _, c := range set.Components() {
		in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: c.Name, Type: c.Type, Metadata: emus.Apply(c)})
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := in.Receive(ctx, 1)
		if err != nil || len(msgs) != 1 || string(msgs[0].Data) != "kept by "+c.Name {
			t.Errorf("%s after a restart: %v %v, want the message sent before", c.Name, msgs, err)
		}
		_ = in.Close()
	}
}
