package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/servertest"
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
	hc, ok := in.(bindings.HealthChecker)
	if !ok {
		t.Fatalf("%T does not implement bindings.HealthChecker", in)
	}
	healthy := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return hc.Healthy(ctx)
	}
	if err := healthy(); err != nil {
		t.Fatalf("connected: %v", err)
	}
	proxy.Down()
	if err := healthy(); err == nil {
		t.Fatal("healthy while PostgreSQL is unreachable")
	}
	proxy.Up()
	deadline := time.Now().Add(30 * time.Second)
	for err := healthy(); err != nil; err = healthy() {
		if time.Now().After(deadline) {
			t.Fatalf("still unhealthy after PostgreSQL came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
