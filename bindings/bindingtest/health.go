package bindingtest

import (
	"context"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// HealthFollowsBroker checks an input's bindings.HealthChecker, which the
// runtime's /readyz asks: healthy while its broker is reachable, unhealthy
// once down has taken the broker away, healthy again once up has brought it
// back. The client reconnects in its own time, so healthy is waited for (a
// minute at most) where unhealthy is asserted at once.
//
//	proxy, _ := servertest.StartProxy("127.0.0.1:6379")
//	in := openInput(t, map[string]string{"redisHost": proxy.Addr()})
//	bindingtest.HealthFollowsBroker(t, in, proxy.Down, proxy.Up)
func HealthFollowsBroker(t *testing.T, in bindings.Input, down, up func()) {
	t.Helper()
	hc, ok := in.(bindings.HealthChecker)
	if !ok {
		t.Fatalf("%T does not implement bindings.HealthChecker", in)
	}
	healthy := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hc.Healthy(ctx)
	}
	untilHealthy := func(when string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for err := healthy(); err != nil; err = healthy() {
			if time.Now().After(deadline) {
				t.Fatalf("still unhealthy a minute %s: %v", when, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	untilHealthy("after opening")
	down()
	if err := healthy(); err == nil {
		t.Fatal("healthy while the broker is unreachable")
	}
	up()
	untilHealthy("after the broker came back")
}
