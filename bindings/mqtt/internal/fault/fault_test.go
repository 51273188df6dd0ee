// The race detector stays off here: when the broker restarts, the Paho
// client (eclipse/paho.mqtt.golang v1.5.1) sets the DUP flag of the packets
// it resends in resume() while its writer goroutine packs them, a data race
// inside the library that -race reports in this test's own process. .ci/run
// runs this package without -race.

//go:build !race

// This checks the MQTT input end to end under faults, with
// internal/faulttest: 10,000 messages through a function process that is
// killed with SIGKILL and restarted mid-stream, while the private mosquitto
// is restarted too.
package fault

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	_ "github.com/tetherfn/tether/bindings/mqtt"
	"github.com/tetherfn/tether/bindings/mqtt/internal/mosquittotest"
	"github.com/tetherfn/tether/internal/faulttest"
)

func TestMain(m *testing.M) { faulttest.Main(m) }

func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages through a killed function process and a restarted broker; not with -short")
	}
	srv, err := mosquittotest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)

	var b [4]byte
	_, _ = rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	// Each component has its own client ids: the function subscribes to
	// "in" and publishes to "done" and "dead"; the test publishes to "in"
	// and subscribes to "done" and "dead". The retry keys let a handler whose
	// return publish fails while the broker restarts retry for about half a
	// minute.
	comp := func(name, extra string) string {
		return fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: %[1]s
spec:
  type: bindings.mqtt3
  version: v1
  metadata:
  - {name: url, value: %[2]q}
  - {name: topic, value: "fault/%[1]s/%[3]s"}
  - {name: consumerID, value: "fault-%[1]s-%[3]s"}
%[4]s---
`, name, srv.URL, run, extra)
	}
	retry := "  - {name: deadLetter, value: dead}\n  - {name: initialInterval, value: 100ms}\n  - {name: maxInterval, value: 2s}\n  - {name: maxAttempts, value: \"20\"}\n"
	yaml := comp("in", retry) + comp("done", "") + comp("dead", "")
	faulttest.Run(t, faulttest.Config{
		Components: yaml,
		Restart: func(t *testing.T) {
			if err := srv.Restart(); err != nil {
				t.Fatalf("restart mosquitto: %v", err)
			}
		},
	})
}
