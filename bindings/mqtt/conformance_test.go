package mqtt_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/mqtt"
)

func TestConformance(t *testing.T) {
	bindingtest.Run(t, bindingtest.Config{
		Type: mqtt.TypeName,
		Metadata: func(t *testing.T) map[string]string {
			name := bindingtest.Unique("conformance")
			t.Cleanup(func() { forgetSessions(name) })
			return map[string]string{"url": brokerURL(), "topic": "tether/" + name, "consumerID": name}
		},
		InvalidMetadata: []map[string]string{
			{"qos": "0"},
			{"qos": "3"},
			{"url": "http://127.0.0.1:1883"},
			{"consumerID": ""},
			{"caCert": "not a certificate"},
		},
		Skip: map[string]string{
			bindingtest.TestConcurrentConsumers: "MQTT allows one connection per client id and the suite opens its 4 inputs from one metadata; " +
				"replicas need distinct consumerIDs on a $share/<group>/ topic, which TestSharedSubscriptionSplitsWork covers",
		},
	})
}
