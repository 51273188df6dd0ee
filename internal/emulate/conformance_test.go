package emulate

import (
	"context"
	"sync"
	"testing"
	"time"

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
