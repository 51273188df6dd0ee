package dev

import (
	"strings"
	"testing"
)

func TestBrokerAddr(t *testing.T) {
	for _, c := range []struct{ typ, key, value, want string }{
		{"bindings.kafka", "brokers", "k1:9093, k2:9093", "k1:9093"},
		{"bindings.kafka", "brokers", "k1", "k1:9092"},
		{"bindings.aws.sqs", "endpoint", "http://127.0.0.1:4566", "127.0.0.1:4566"},
		{"bindings.aws.sqs", "endpoint", "https://sqs.eu-west-1.amazonaws.com", "sqs.eu-west-1.amazonaws.com:443"},
		{"bindings.aws.sqs", "endpoint", "", ""},
		{"bindings.nats", "natsURL", "nats://a:4222,nats://b:4222", "a:4222"},
		{"bindings.mqtt3", "url", "ssl://broker", "broker:8883"},
		{"bindings.redis", "redisHost", "[::1]:6380", "[::1]:6380"},
		{"bindings.gcp.pubsub", "endpoint", "", ""},
	} {
		if got := brokerAddr(c.typ, map[string]string{c.key: c.value}); got != c.want {
			t.Errorf("brokerAddr(%s, %s=%q) = %q, want %q", c.typ, c.key, c.value, got, c.want)
		}
	}
}

// TestOverrideYAML: the overridden keys are replaced (whatever their case)
// or removed, a reference that is not overridden stays a reference, and the
// other documents are kept.
func TestOverrideYAML(t *testing.T) {
	in := `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: events
spec:
  type: bindings.kafka
  version: v1
  metadata:
  - name: Brokers
    value: kafka.prod:9092
  - name: saslPassword
    secretKeyRef:
      name: kafka
      key: password
  - name: consumerGroup
    envRef: GROUP
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: other
spec:
  type: bindings.kafka
  version: v1
  metadata:
  - name: brokers
    value: kafka.prod:9092
`
	out, err := overrideYAML([]byte(in), map[string]map[string]string{
		"events": {"brokers": "127.0.0.1:1234", "saslPassword": "", "authType": "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{`value: "127.0.0.1:1234"`, "envRef: GROUP", "name: other", "value: kafka.prod:9092", `value: "none"`} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in\n%s", want, s)
		}
	}
	if strings.Count(s, "kafka.prod:9092") != 1 || strings.Contains(s, "saslPassword") || strings.Contains(s, "Brokers") {
		t.Errorf("the overridden keys are still there:\n%s", s)
	}
	same, err := overrideYAML([]byte(in), map[string]map[string]string{"unrelated": {"brokers": "x"}})
	if err != nil || string(same) != in {
		t.Errorf("a file without an overridden component changed (%v):\n%s", err, same)
	}
}
