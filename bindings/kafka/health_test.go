package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tetherfn/tether/bindings/bindingtest"
)

// TestHealthyFollowsKafka: the input reports the cluster unreachable while
// it is down (so /readyz answers not ready), and healthy again once it is
// back on its port.
func TestHealthyFollowsKafka(t *testing.T) {
	k, err := startCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.close)
	in := openInput(t, map[string]string{"brokers": k.addr, "topics": "health", "consumerGroup": "health"})
	bindingtest.HealthFollowsBroker(t, in, k.close, func() {
		if err := k.start(); err != nil {
			t.Fatal(err)
		}
	})
}
