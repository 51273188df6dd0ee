// Package fault checks the RabbitMQ input end to end under faults, with
// internal/faulttest: 10,000 messages through a function process that is
// killed with SIGKILL and restarted mid-stream, while a private RabbitMQ
// node is restarted too.
package fault

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	_ "github.com/tetherfn/tether/bindings/rabbitmq"
	"github.com/tetherfn/tether/bindings/rabbitmq/internal/rabbitmqtest"
	"github.com/tetherfn/tether/internal/faulttest"
)

func TestMain(m *testing.M) { faulttest.Main(m) }

func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages through a killed function process and a restarted RabbitMQ node; not with -short")
	}
	if _, err := rabbitmqtest.Binary(); err != nil {
		t.Skipf("RabbitMQ is not installed: %v", err)
	}
	srv, err := rabbitmqtest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)

	var b [4]byte
	_, _ = rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	// Durable queues and persistent messages survive the node's restart.
	// The retry keys let a handler whose return publish fails while the
	// node restarts retry for about half a minute.
	comp := func(name, extra string) string {
		return fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: %[1]s
spec:
  type: bindings.rabbitmq
  version: v1
  metadata:
  - {name: host, value: %[2]q}
  - {name: queueName, value: "fault-%[1]s-%[3]s"}
  - {name: durable, value: "true"}
  - {name: reconnectWaitInSeconds, value: "1"}
%[4]s---
`, name, srv.URL, run, extra)
	}
	retry := "  - {name: deadLetter, value: dead}\n  - {name: initialInterval, value: 100ms}\n  - {name: maxInterval, value: 2s}\n  - {name: maxAttempts, value: \"20\"}\n"
	yaml := comp("in", retry) + comp("done", "") + comp("dead", "")
	faulttest.Run(t, faulttest.Config{
		Components: yaml,
		Restart: func(t *testing.T) {
			if err := srv.Restart(); err != nil {
				t.Fatalf("restart RabbitMQ: %v", err)
			}
		},
	})
}
