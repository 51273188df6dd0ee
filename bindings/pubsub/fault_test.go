package pubsub_test

import (
	"fmt"
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/internal/faulttest"
)

// TestFault sends 10,000 messages through a function process on a Pub/Sub
// subscription, SIGKILLs it mid-stream and starts another: every message
// must end delivered or dead-lettered. pstest runs in a helper process, so
// that the function process reaches it too. It keeps everything in memory,
// so the broker is not restarted (a restart would lose the topics, which
// Pub/Sub never does).
func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages through a killed function process; not with -short")
	}
	addr := startPstestProcess(t)
	run := bindingtest.Unique("fault")
	// The killed process's messages come back when their ack deadline (10s,
	// the shortest Pub/Sub allows) runs out. pstest hands each stream about a
	// message per 10ms: four streams per subscription keep the run short.
	comp := func(name, extra string) string {
		return fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: %[1]s
spec:
  type: bindings.gcp.pubsub
  version: v1
  metadata:
  - {name: projectId, value: %[4]s}
  - {name: endpoint, value: %[2]q}
  - {name: topic, value: "%[3]s-%[1]s"}
  - {name: subscription, value: "%[3]s-%[1]s-sub"}
  - {name: ackDeadline, value: 10s}
  - {name: maxConcurrentConnections, value: "4"}
%[5]s---
`, name, addr, run, project, extra)
	}
	yaml := comp("in", "  - {name: deadLetter, value: dead}\n  - {name: initialInterval, value: 10ms}\n  - {name: handlerTimeout, value: 250ms}\n") + comp("done", "") + comp("dead", "")
	faulttest.Run(t, faulttest.Config{Components: yaml})
}
