// The race detector stays off here: when the broker restarts, the Paho
// client (eclipse/paho.mqtt.golang v1.5.1) sets the DUP flag of the packets
// it resends in resume() while its writer goroutine packs them, a data race
// inside the library that -race reports in this test's own process. .ci/run
// runs this package without -race.

//go:build !race

// This checks the MQTT input end to end under faults, with
// internal/testkit/faulttest: 10,000 messages through a function process that is
// killed with SIGKILL and restarted mid-stream, while the private mosquitto
// is restarted too; once with a single-message function, once with a batch
// function, in parallel, each with a server of its own.
package fault

import (
	"testing"

	_ "github.com/tetherfn/tether/bindings/mqtt"
	"github.com/tetherfn/tether/bindings/mqtt/internal/mosquittotest"
	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

func TestMain(m *testing.M) { faulttest.Main(m) }

func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages through a killed function process and a restarted broker; not with -short")
	}
	faulttest.Variants(t, func(t *testing.T, batch bool) {
		srv, err := mosquittotest.Start(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)

		// Each component has its own client ids: the function subscribes to
		// "in" and publishes to "done" and "dead"; the test publishes to "in"
		// and subscribes to "done" and "dead".
		yaml := faulttest.Components("bindings.mqtt3", func(name, run string) map[string]string {
			return map[string]string{"url": srv.URL, "topic": "fault/" + name + "/" + run, "consumerID": "fault-" + name + "-" + run}
		})
		faulttest.Run(t, faulttest.Config{
			Components: yaml,
			Batch:      batch,
			Restart: func(t *testing.T) {
				if err := srv.Restart(); err != nil {
					t.Fatalf("restart mosquitto: %v", err)
				}
			},
		})
	})
}
