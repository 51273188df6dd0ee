// Package fault checks the Redis Streams input end to end under faults, with
// internal/faulttest: 10,000 messages through a function process that is
// killed with SIGKILL and restarted mid-stream, while the private Redis
// server is restarted too.
package fault

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	_ "github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/bindings/redis/internal/redistest"
	"github.com/tetherfn/tether/internal/faulttest"
)

func TestMain(m *testing.M) { faulttest.Main(m) }

func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages through a killed function process and a restarted server; not with -short")
	}
	srv, err := redistest.Start(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)

	var b [4]byte
	_, _ = rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	// processingTimeout bounds how long the entries the killed process held
	// wait before the restarted one claims them.
	comp := func(name, extra string) string {
		return fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: %[1]s
spec:
  type: bindings.redis
  version: v1
  metadata:
  - {name: redisHost, value: %[2]q}
  - {name: stream, value: "fault-%[1]s-%[3]s"}
  - {name: consumerGroup, value: fault}
  - {name: processingTimeout, value: 3s}
  - {name: redeliverInterval, value: 500ms}
%[4]s---
`, name, srv.Addr, run, extra)
	}
	yaml := comp("in", "  - {name: deadLetter, value: dead}\n  - {name: initialInterval, value: 10ms}\n") + comp("done", "") + comp("dead", "")
	faulttest.Run(t, faulttest.Config{
		Components: yaml,
		Restart: func(t *testing.T) {
			if err := srv.Restart(); err != nil {
				t.Fatalf("restart redis-server: %v", err)
			}
		},
	})
}
