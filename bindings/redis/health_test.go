package redis_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/internal/testkit/servertest"
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
	bindingtest.HealthFollowsBroker(t, in, proxy.Down, proxy.Up)
}
