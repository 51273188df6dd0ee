package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tetherfn/tether/bindings"
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
	hc, ok := in.(bindings.HealthChecker)
	if !ok {
		t.Fatalf("%T does not implement bindings.HealthChecker", in)
	}
	healthy := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return hc.Healthy(ctx)
	}
	if err := healthy(); err != nil {
		t.Fatalf("connected: %v", err)
	}
	k.close()
	if err := healthy(); err == nil {
		t.Fatal("healthy while the cluster is down")
	}
	if err := k.start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for err := healthy(); err != nil; err = healthy() {
		if time.Now().After(deadline) {
			t.Fatalf("still unhealthy after the cluster came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
