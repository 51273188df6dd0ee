package rabbitmq_test

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/rabbitmq"
)

func TestConformance(t *testing.T) {
	run(t, nil)
}

// TestConformanceQuorum runs the suite on a quorum queue, where the broker
// counts deliveries (x-delivery-count) instead of the driver.
func TestConformanceQuorum(t *testing.T) {
	run(t, map[string]string{"queueType": "quorum", "durable": "true"})
}

func run(t *testing.T, extra map[string]string) {
	c := bindingtest.Config{
		Type: rabbitmq.TypeName,
		Metadata: func(t *testing.T) map[string]string {
			queue := bindingtest.Unique("conformance")
			t.Cleanup(func() {
				withRaw(t, func(ch *amqp.Channel) error {
					_, err := ch.QueueDelete(queue, false, false, false)
					return err
				})
			})
			md := map[string]string{"host": brokerURL(), "queueName": queue}
			for k, v := range extra {
				md[k] = v
			}
			return md
		},
		InvalidMetadata: []map[string]string{
			{"maxPriority": "300"},
			{"queueType": "quorum", "durable": "false"},
			{"deadLetterQueue": "dlq-without-exchange"},
			{"ttlInSeconds": "-1"},
			{"prefetchCount": "-1"},
			{"reconnectWaitInSeconds": "0"},
			{"clientCert": "half of a pair"},
		},
	}
	if testing.Short() {
		c.Messages = 1000
	}
	bindingtest.Run(t, c)
}
