// Package fault checks the PostgreSQL queue input end to end under faults,
// with internal/testkit/faulttest: 10,000 messages through a function process that is
// killed with SIGKILL and restarted mid-stream, while the private PostgreSQL
// cluster is restarted too; once with a single-message function, once with a
// batch function, each with a cluster of its own.
package fault

import (
	"testing"

	_ "github.com/tetherfn/tether/bindings/postgres"
	"github.com/tetherfn/tether/bindings/postgres/internal/pgtest"
	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

func TestMain(m *testing.M) { faulttest.Main(m) }

func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages through a killed function process and a restarted server; not with -short")
	}
	faulttest.Variants(t, func(t *testing.T, batch bool) {
		cluster, err := pgtest.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("server log:\n%s", cluster.Log())
			}
			if err := cluster.Close(); err != nil {
				t.Error(err)
			}
		})
		// leaseDuration bounds how long the rows the killed process held wait
		// before the restarted one claims them again.
		yaml := faulttest.Components("bindings.postgresql", func(name, run string) map[string]string {
			return map[string]string{"connectionString": cluster.URL, "table": "fault_" + name + "_" + run, "leaseDuration": "3s", "pollInterval": "1s"}
		})
		faulttest.Run(t, faulttest.Config{
			Components: yaml,
			Batch:      batch,
			Restart: func(t *testing.T) {
				if err := cluster.Restart(); err != nil {
					t.Fatalf("restart the cluster: %v", err)
				}
			},
		})
	})
}
