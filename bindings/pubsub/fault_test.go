package pubsub_test

import (
	"testing"
	"time"

	"github.com/tetherfn/tether/internal/testkit/faulttest"
	"github.com/tetherfn/tether/internal/testkit/servertest"
)

// TestFault sends 10,000 messages through a function process on a Pub/Sub
// subscription, SIGKILLs it mid-stream and starts another: every message
// must end delivered or dead-lettered. pstest runs in a helper process, so
// that the function process reaches it too. It keeps everything in memory,
// so instead of restarting it (which would lose the topics, as Pub/Sub never
// does) the test makes it unreachable for a few seconds: every client
// reaches it through a proxy that goes down. It runs once with a
// single-message function, then once with a batch function, each on a pstest
// of its own: one after the other, as pstest's own work sets the pace (it
// scans every message of a subscription every 10 ms, under the race
// detector), so two at once would only share the CPU.
func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages through a killed function process; not with -short")
	}
	faulttest.VariantsInTurn(t, func(t *testing.T, batch bool) {
		proxy, err := servertest.StartProxy(startPstestProcess(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(proxy.Close)
		addr := proxy.Addr()
		// The killed process's messages come back when their ack deadline (10s,
		// the shortest Pub/Sub allows) runs out. pstest hands each stream about a
		// message per 10ms: four streams per subscription keep the run short.
		yaml := faulttest.Components("bindings.gcp.pubsub", func(name, run string) map[string]string {
			return map[string]string{"projectId": project, "endpoint": addr, "topic": "fault-" + run + "-" + name,
				"subscription": "fault-" + run + "-" + name + "-sub", "ackDeadline": "10s", "maxConcurrentConnections": "4"}
		})
		faulttest.Run(t, faulttest.Config{Components: yaml, Batch: batch, Restart: func(*testing.T) { proxy.Outage(3 * time.Second) }})
	})
}
