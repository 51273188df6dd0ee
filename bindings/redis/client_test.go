package redis_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/redis"
)

func bindClient(t *testing.T, md map[string]string) *redis.Client {
	t.Helper()
	out := openOutput(t, md)
	typ, _ := bindings.Lookup(redis.TypeName)
	c := new(redis.Client)
	if err := c.BindOutput(bindings.OutputBinding{Name: "cache", Type: typ, Output: out}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientKeyOperations(t *testing.T) {
	ctx := testContext(t)
	stream := unique("client-stream")
	// The component has a stream, so create would append: Set must still set.
	c := bindClient(t, map[string]string{"stream": stream})
	key := unique("client-key")

	if _, err := c.Get(ctx, key); !errors.Is(err, bindings.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if err := c.Set(ctx, key, []byte("v"), 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, key); err != nil || string(got) != "v" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if ttl := raw(t).TTL(ctx, key).Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Errorf("TTL after Set with 1.5s = %v, want 2s (rounded up to whole seconds)", ttl)
	}
	if err := c.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= 2; want++ {
		if n, err := c.Increment(ctx, key); err != nil || n != want {
			t.Fatalf("Increment = %d, %v; want %d", n, err, want)
		}
	}
	if n := raw(t).XLen(ctx, stream).Val(); n != 0 {
		t.Errorf("key operations appended %d entries to the component's stream", n)
	}
}

func TestClientXAddAndPublish(t *testing.T) {
	ctx := testContext(t)
	c := bindClient(t, nil)
	stream := unique("client-xadd")
	id, err := c.XAdd(ctx, stream, []byte("work"), map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	e := raw(t).XRange(ctx, stream, id, id).Val()
	if len(e) != 1 || e[0].Values["data"] != "work" || e[0].Values["k"] != "v" {
		t.Fatalf("entry %s = %+v", id, e)
	}
	if _, err := c.XAdd(ctx, "", []byte("x"), nil); err == nil || !strings.Contains(err.Error(), "no stream") {
		t.Errorf("XAdd without any stream: %v", err)
	}
	if n, err := c.Publish(ctx, unique("nobody"), []byte("x")); err != nil || n != 0 {
		t.Errorf("Publish to a channel without subscribers = %d, %v", n, err)
	}
}

func TestClientRefusesAnotherBindingType(t *testing.T) {
	other := &bindings.Type{Name: "bindings.kafka"}
	err := new(redis.Client).BindOutput(bindings.OutputBinding{Name: "events", Type: other, Output: openOutput(t, nil)})
	if err == nil {
		t.Fatal("a *redis.Client bound to a bindings.kafka component")
	}
	for _, want := range []string{`"events"`, "bindings.kafka", "bindings.redis"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	var unbound redis.Client
	if _, err := unbound.Get(testContext(t), "k"); err == nil {
		t.Error("an unbound client answered Get")
	}
}
