// Package fault checks the Redis Streams input end to end under faults, with
// internal/testkit/faulttest: 10,000 messages through a function process that is
// killed with SIGKILL and restarted mid-stream, while the private Redis
// server is restarted too; once with a single-message function, once with a
// batch function, in parallel, each with a server of its own.
package fault

import (
	"testing"

	_ "github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/bindings/redis/internal/redistest"
	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

func TestMain(m *testing.M) { faulttest.Main(m) }

func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages through a killed function process and a restarted server; not with -short")
	}
	faulttest.Variants(t, func(t *testing.T, batch bool) {
		srv, err := redistest.Start(t.TempDir(), true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)

		// processingTimeout bounds how long the entries the killed process
		// held wait before the restarted one claims them.
		yaml := faulttest.Components("bindings.redis", func(name, run string) map[string]string {
			return map[string]string{"redisHost": srv.Addr, "stream": "fault-" + name + "-" + run, "consumerGroup": "fault",
				"processingTimeout": "3s", "redeliverInterval": "500ms"}
		})
		faulttest.Run(t, faulttest.Config{
			Components: yaml,
			Batch:      batch,
			Restart: func(t *testing.T) {
				if err := srv.Restart(); err != nil {
					t.Fatalf("restart redis-server: %v", err)
				}
			},
		})
	})
}
