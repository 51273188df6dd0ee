package mqtt_test

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/mqtt"
	"github.com/tetherfn/tether/bindings/mqtt/internal/mosquittotest"
	"github.com/tetherfn/tether/internal/testkit/benchtest"
)

const (
	benchBatch       = 64
	benchConcurrency = 16
)

var benchPayload = []byte(`{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`)

// benchBroker is a private mosquitto without a limit on queued messages,
// so that a session can be filled before its consumer connects.
var benchBroker struct {
	once sync.Once
	srv  *mosquittotest.Server
	dir  string
	err  error
}

func broker(b *testing.B) string {
	b.Helper()
	benchBroker.once.Do(func() {
		benchBroker.dir, benchBroker.err = os.MkdirTemp("", "tether-mqtt-bench-")
		if benchBroker.err == nil {
			benchBroker.srv, benchBroker.err = mosquittotest.Start(benchBroker.dir)
		}
	})
	if benchBroker.err != nil {
		b.Fatal(benchBroker.err)
	}
	return benchBroker.srv.URL
}

// BenchmarkTrigger compares a raw Paho consumer with the Tether runtime on
// the MQTT input, each consuming b.N QoS 1 messages queued beforehand in
// its persistent session on a private mosquitto (manual acks; the broker
// keeps 20 messages in flight per client). The raw consumer acks each
// message in Paho's callback. Tether runs a no-op handler per message on 16
// workers and acks each as its handler returns. "driver" is the binding alone
// (one goroutine: Receive(64), then Ack each). The three run in turn, in
// rounds, so that changes in the machine's load touch them alike; each
// reports msgs/s, and the parent logs the medians and Tether's median
// per-round ratio to raw. Run with -benchtime 20000x (b.N is the messages
// per run).
//
//tether:bench benchtime=5000x quick=2000x
func BenchmarkTrigger(b *testing.B) {
	broker(b)
	b.Cleanup(func() {
		benchBroker.srv.Stop()
		os.RemoveAll(benchBroker.dir)
	})
	benchtest.Rounds(b, 7, benchRaw, benchDriver, benchTether)
}

// fill makes a persistent session for "<consumerID>-consumer" subscribed to
// a new topic, and queues n messages in it while it is offline.
func fill(b *testing.B, n int) (consumerID, topic string) {
	b.Helper()
	name := bindingtest.Unique("bench")
	consumerID, topic = name, "tether/bench/"+name
	url := broker(b)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(consumerID + "-consumer").SetCleanSession(false))
	if t := sub.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		b.Fatalf("connect: %v", t.Error())
	}
	if t := sub.Subscribe(topic, 1, nil); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		b.Fatalf("subscribe: %v", t.Error())
	}
	sub.Disconnect(250)
	b.Cleanup(func() { forgetSessionsAt(url, consumerID) })

	pub := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(consumerID + "-filler").SetMaxResumePubInFlight(1000))
	if t := pub.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		b.Fatalf("connect: %v", t.Error())
	}
	defer pub.Disconnect(250)
	tokens := make([]paho.Token, 0, 1000)
	for i := 0; i < n; i++ {
		tokens = append(tokens, pub.Publish(topic, 1, false, benchPayload))
		if len(tokens) == cap(tokens) || i == n-1 {
			for _, t := range tokens {
				if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
					b.Fatalf("publish: %v", t.Error())
				}
			}
			tokens = tokens[:0]
		}
	}
	return consumerID, topic
}

func forgetSessionsAt(url, consumerID string) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(consumerID + "-consumer").SetCleanSession(true))
	if t := c.Connect(); t.WaitTimeout(5*time.Second) && t.Error() == nil {
		c.Disconnect(0)
	}
}

func benchRaw(b *testing.B) float64 {
	consumerID, topic := fill(b, b.N)
	var handled atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	b.ResetTimer()
	opts := paho.NewClientOptions().AddBroker(broker(b)).SetClientID(consumerID + "-consumer").
		SetCleanSession(false).SetAutoAckDisabled(true).SetOrderMatters(true).SetProtocolVersion(4).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if len(m.Payload()) == 0 {
				panic("empty message")
			}
			m.Ack()
			if handled.Add(1) == n {
				close(done)
			}
		})
	c := paho.NewClient(opts)
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		b.Fatalf("connect: %v", t.Error())
	}
	if t := c.Subscribe(topic, 1, nil); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		b.Fatalf("subscribe: %v", t.Error())
	}
	<-done
	b.StopTimer()
	c.Disconnect(250)
	return benchtest.Rate(b)
}

func benchDriver(b *testing.B) float64 {
	consumerID, topic := fill(b, b.N)
	return benchtest.Driver(b, bindings.Config{Name: "driver", Type: mqtt.TypeName, Metadata: map[string]string{
		"url": broker(b), "topic": topic, "consumerID": consumerID,
		"batchSize": fmt.Sprint(benchBatch), "maxConcurrency": fmt.Sprint(benchConcurrency),
	}}, benchBatch)
}

func benchTether(b *testing.B) float64 {
	consumerID, topic := fill(b, b.N)
	set := bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.mqtt3", map[string]string{"url": broker(b), "topic": topic, "consumerID": consumerID, "batchSize": strconv.Itoa(benchBatch), "maxConcurrency": strconv.Itoa(benchConcurrency)}))
	return benchtest.Trigger(b, set)
}
