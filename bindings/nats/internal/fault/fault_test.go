// Package fault checks the NATS JetStream input end to end under faults, with
// internal/testkit/faulttest: 10,000 messages through a function process that is
// killed with SIGKILL and restarted mid-stream, while the private nats-server
// is restarted too; once with a single-message function, once with a batch
// function, in parallel, each with a server of its own.
package fault

import (
	"testing"

	_ "github.com/tetherfn/tether/bindings/nats"
	"github.com/tetherfn/tether/bindings/nats/internal/natstest"
	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

func TestMain(m *testing.M) { faulttest.Main(m) }

func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages through a killed function process and a restarted server; not with -short")
	}
	faulttest.Variants(t, func(t *testing.T, batch bool) {
		srv, err := natstest.Start(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)

		// ackWait bounds how long the messages the killed process held wait
		// before JetStream gives them to the restarted one.
		yaml := faulttest.Components("bindings.nats", func(name, run string) map[string]string {
			return map[string]string{"natsURL": srv.URL, "stream": "FAULT_" + name + "_" + run, "subject": "fault." + name + "." + run, "ackWait": "3s"}
		})
		faulttest.Run(t, faulttest.Config{
			Components: yaml,
			Batch:      batch,
			Restart: func(t *testing.T) {
				if err := srv.Restart(); err != nil {
					t.Fatalf("restart nats-server: %v", err)
				}
			},
		})
	})
}
