package postgres_test

import (
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/internal/testkit/servertest"
)

// TestHealthyFollowsPostgres: the input reports PostgreSQL unreachable
// while it is (so /readyz answers not ready), and healthy again once it is
// back.
func TestHealthyFollowsPostgres(t *testing.T) {
	const server = "127.0.0.1:5432"
	if !strings.Contains(connString, "@"+server+"/") {
		t.Skipf("the proxy needs the server at %s; TETHER_TEST_POSTGRES_URL points elsewhere", server)
	}
	proxy, err := servertest.StartProxy(server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	in := openInput(t, map[string]string{
		"connectionString": strings.Replace(connString, "@"+server+"/", "@"+proxy.Addr()+"/", 1),
		"table":            unique("health"),
	})
	bindingtest.HealthFollowsBroker(t, in, proxy.Down, proxy.Up)
}
