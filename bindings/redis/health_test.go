package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/servertest"
)

// TestHealthyFollowsRedis: the input reports Redis unreachable while it is
// (so /readyz answers not ready), and healthy again once it is back.
func TestHealthyFollowsRedis(t *testing.T) {
	proxy, err := servertest.StartProxy(shared.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	in := openInput(t, map[string]string{"redisHost": proxy.Addr(), "stream": unique("stream")})
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
		t.Fatal("healthy while Redis is unreachable")
	}
	proxy.Up()
	waitHealthy(t, healthy)
}

// waitHealthy waits until check succeeds: the client reconnects in its own
// time.
func waitHealthy(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for err := check(); err != nil; err = check() {
		if time.Now().After(deadline) {
			t.Fatalf("still unhealthy after the broker came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
