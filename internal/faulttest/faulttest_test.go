package faulttest_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	_ "github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/internal/faulttest"
)

func TestMain(m *testing.M) { faulttest.Main(m) }

// The harness checks itself on Redis Streams (a real broker that outlives
// the function process), with a small count.
func TestHarnessOnRedis(t *testing.T) {
	s := rand.Uint64()
	comp := func(name, stream, extra string) string {
		return fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: %s
spec:
  type: bindings.redis
  version: v1
  metadata:
  - {name: redisHost, value: "127.0.0.1:6379"}
  - {name: stream, value: "faulttest-%s-%d"}
  - {name: consumerGroup, value: g}
  - {name: processingTimeout, value: 1s}
  - {name: redeliverInterval, value: 200ms}
%s---
`, name, stream, s, extra)
	}
	yaml := comp("in", "in", "  - {name: deadLetter, value: dead}\n") + comp("done", "done", "") + comp("dead", "dead", "")
	r := faulttest.Run(t, faulttest.Config{Components: yaml, Messages: 2000})
	if r.Delivered == 0 {
		t.Fatal("nothing delivered")
	}
}
