// Package fault checks the RabbitMQ input end to end under faults, with
// internal/testkit/faulttest: 10,000 messages through a function process that is
// killed with SIGKILL and restarted mid-stream, while a private RabbitMQ
// node is restarted too; once with a single-message function, once with a
// batch function, in parallel, each with a node of its own.
package fault

import (
	"testing"

	_ "github.com/tetherfn/tether/bindings/rabbitmq"
	"github.com/tetherfn/tether/bindings/rabbitmq/internal/rabbitmqtest"
	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

func TestMain(m *testing.M) { faulttest.Main(m) }

func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages through a killed function process and a restarted RabbitMQ node; not with -short")
	}
	if _, err := rabbitmqtest.Binary(); err != nil {
		t.Skipf("RabbitMQ is not installed: %v", err)
	}
	faulttest.Variants(t, func(t *testing.T, batch bool) {
		srv, err := rabbitmqtest.Start(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)

		// Durable queues and persistent messages survive the node's restart.
		yaml := faulttest.Components("bindings.rabbitmq", func(name, run string) map[string]string {
			return map[string]string{"host": srv.URL, "queueName": "fault-" + name + "-" + run, "durable": "true", "reconnectWaitInSeconds": "1"}
		})
		faulttest.Run(t, faulttest.Config{
			Components: yaml,
			Batch:      batch,
			Restart: func(t *testing.T) {
				if err := srv.Restart(); err != nil {
					t.Fatalf("restart RabbitMQ: %v", err)
				}
			},
		})
	})
}
