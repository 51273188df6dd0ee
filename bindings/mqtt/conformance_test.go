package mqtt_test

import (
	"fmt"
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
		// Replicas of an MQTT function have their own client ids and share
		// the topic through a $share/<group>/ subscription.
		Replica: func(md map[string]string, i int) map[string]string {
			md["consumerID"] = fmt.Sprintf("%s-r%d", md["consumerID"], i)
			md["topic"] = "$share/conformance/" + md["topic"]
			t.Cleanup(func() { forgetSessions(md["consumerID"]) })
			return md
		},
	})
}
