package pubsub_test

import (
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/pubsub"
)

func conformance(addr string) bindingtest.Config {
	c := bindingtest.Config{
		Type: pubsub.TypeName,
		// A fresh topic and subscription per subtest, created by the
		// binding, with message ordering for the Ordering subtest.
		Metadata: func(t *testing.T) map[string]string {
			name := bindingtest.Unique("conformance")
			return metadata(addr, name, name+"-sub", map[string]string{"enableMessageOrdering": "true"})
		},
		InvalidMetadata: []map[string]string{
			{"endpoint": "no-port"},
			{"ackDeadline": "5s"},
			{"ackDeadline": "20.5s"},
			{"maxOutstandingMessages": "0"},
			{"maxConcurrentConnections": "0"},
			{"maxDurationPerAckExtension": "5s"},
			{"minDurationPerAckExtension": "11m"},
			{"publishDelayThreshold": "0"},
			{"projectId": ""}, // with an emulator, a project is required
			{"credentialsJson": "not json"},
			{"credentialsJson": `{"type":"api_key"}`},
			{"private_key": "-----BEGIN PRIVATE KEY-----"}, // without client_email
			{"topic": "two words"},
		},
	}
	if testing.Short() {
		c.Messages = 1000
	}
	return c
}

func TestConformance(t *testing.T) {
	c := conformance(pstestAddr())
	// pstest hands each streaming pull about one message per 10ms, so the
	// concurrency subtest runs fewer messages here, with room for a loaded
	// machine; the SDK emulator below takes the full count.
	if c.Messages == 0 {
		c.Messages = 3000
	}
	c.Timeout = 3 * time.Minute
	bindingtest.Run(t, c)
}

// TestConformanceSDKEmulator runs the suite against the Google Cloud SDK's
// Pub/Sub emulator, where it is installed.
func TestConformanceSDKEmulator(t *testing.T) {
	path, err := sdkEmulator()
	if err != nil {
		t.Skip(err)
	}
	bindingtest.Run(t, conformance(startSDKEmulator(t, path)))
}
