package faulttest_test

import (
	"testing"

	_ "github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

func TestMain(m *testing.M) { faulttest.Main(m) }

// The harness checks itself on Redis Streams (a real broker that outlives
// the function process), with a small count, with the single-message relay
// and the batch relay.
func TestHarnessOnRedis(t *testing.T) {
	faulttest.Variants(t, func(t *testing.T, batch bool) {
		yaml := faulttest.Components("bindings.redis", func(name, run string) map[string]string {
			return map[string]string{"redisHost": "127.0.0.1:6379", "stream": "faulttest-" + name + "-" + run, "consumerGroup": "g",
				"processingTimeout": "1s", "redeliverInterval": "200ms"}
		})
		r := faulttest.Run(t, faulttest.Config{Components: yaml, Messages: 2000, Batch: batch})
		if r.Delivered == 0 {
			t.Fatal("nothing delivered")
		}
	})
}
