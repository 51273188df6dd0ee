package nats_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/nats"
)

func TestConformance(t *testing.T) {
	c := bindingtest.Config{
		Type: nats.TypeName,
		Metadata: func(t *testing.T) map[string]string {
			name := bindingtest.Unique("conformance")
			stream := "TETHER_" + name
			t.Cleanup(func() { deleteStream(stream) })
			return map[string]string{
				"natsURL":       serverURL(),
				"stream":        stream,
				"subject":       "tether." + name,
				"streamStorage": "memory",
			}
		},
		InvalidMetadata: []map[string]string{
			{"maxDeliver": "2", "maxAttempts": "5"},
			{"deliverPolicy": "byStartSequence"}, // without startSequence
			{"deliverPolicy": "byStartTime", "startTime": "yesterday"},
			{"ackWait": "0"},
			{"caCert": "not a certificate"},
			{"jwt": "only-half-of-a-pair"},
		},
	}
	if testing.Short() {
		c.Messages = 1000
	}
	bindingtest.Run(t, c)
}
