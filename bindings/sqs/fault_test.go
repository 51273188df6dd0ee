package sqs_test

import (
	"fmt"
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/internal/faulttest"
)

// TestFault sends 10,000 messages through a function process on an SQS
// queue, SIGKILLs it mid-stream and starts another: every message must end
// delivered or dead-lettered. fauxqs keeps its queues in memory only, so the
// broker is not restarted (a restart would lose the queues, which real SQS
// never does).
func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages through a killed function process; not with -short")
	}
	run := bindingtest.Unique("fault")
	// A short visibility timeout brings back soon what the killed process
	// held; the runtime's lease extension keeps running handlers' messages.
	comp := func(name, extra string) string {
		return fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: %[1]s
spec:
  type: bindings.aws.sqs
  version: v1
  metadata:
  - {name: queueName, value: "%[3]s-%[1]s"}
  - {name: region, value: %[4]s}
  - {name: endpoint, value: %[2]q}
  - {name: accessKey, value: test}
  - {name: secretKey, value: test}
  - {name: createQueue, value: "true"}
  - {name: messageVisibilityTimeout, value: "5"}
  - {name: messageWaitTimeSeconds, value: "2"}
%[5]s---
`, name, endpoint(t), run, region, extra)
	}
	yaml := comp("in", "  - {name: deadLetter, value: dead}\n  - {name: initialInterval, value: 10ms}\n  - {name: handlerTimeout, value: 250ms}\n") + comp("done", "") + comp("dead", "")
	faulttest.Run(t, faulttest.Config{Components: yaml})
}
