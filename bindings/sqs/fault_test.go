package sqs_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/tetherfn/tether/internal/testkit/faulttest"
	"github.com/tetherfn/tether/internal/testkit/servertest"
)

// TestFault sends 10,000 messages through a function process on an SQS
// queue, SIGKILLs it mid-stream and starts another: every message must end
// delivered or dead-lettered. sqsemu keeps its queues in memory only, so
// instead of restarting it (which would lose the queues, as real SQS never
// does) the test makes it unreachable for a few seconds: every client
// reaches it through a proxy that goes down. It runs with a single-message
// function and with a batch function, in parallel, each through a proxy of
// its own (to the one sqsemu, on queues of its own).
func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages through a killed function process; not with -short")
	}
	target, err := url.Parse(endpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	faulttest.Variants(t, func(t *testing.T, batch bool) {
		proxy, err := servertest.StartProxy(target.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(proxy.Close)
		// A short visibility timeout brings back soon what the killed process
		// held; the runtime's lease extension keeps running handlers' messages.
		yaml := faulttest.Components("bindings.aws.sqs", func(name, run string) map[string]string {
			return map[string]string{"queueName": "fault-" + run + "-" + name, "region": region,
				"endpoint": target.Scheme + "://" + proxy.Addr(), "accessKey": "test", "secretKey": "test", "createQueue": "true",
				"messageVisibilityTimeout": "5", "messageWaitTimeSeconds": "2"}
		})
		faulttest.Run(t, faulttest.Config{Components: yaml, Batch: batch, Restart: func(*testing.T) { proxy.Outage(3 * time.Second) }})
	})
}
