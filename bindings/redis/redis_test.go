package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/redis"
)

func openOutput(t *testing.T, md map[string]string) bindings.Output {
	t.Helper()
	md = withHost(md)
	out, _, err := bindings.OpenOutput(testContext(t), bindings.Config{Name: unique("out"), Type: redis.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("open output: %v", err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

func openInput(t *testing.T, md map[string]string) bindings.Input {
	t.Helper()
	md = withHost(md)
	in, _, err := bindings.OpenInput(testContext(t), bindings.Config{Name: "in", Type: redis.TypeName, Metadata: md})
	if err != nil {
		t.Fatalf("open input: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func withHost(md map[string]string) map[string]string {
	out := map[string]string{"redisHost": shared.Addr}
	for k, v := range md {
		out[k] = v
	}
	return out
}

// raw is a plain go-redis client on the private server, to check what the
// binding did.
func raw(t *testing.T) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: shared.Addr, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

func invoke(t *testing.T, out bindings.Output, op bindings.Operation, data string, md map[string]string) *bindings.InvokeResponse {
	t.Helper()
	resp, err := out.Invoke(testContext(t), &bindings.InvokeRequest{Operation: op, Data: []byte(data), Metadata: md})
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return resp
}

func receiveOne(t *testing.T, in bindings.Input) *bindings.Message {
	t.Helper()
	msgs, err := in.Receive(testContext(t), 1)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("receive: got %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func TestKeyOperations(t *testing.T) {
	ctx := testContext(t)
	out := openOutput(t, nil)
	rc := raw(t)
	key := unique("key")

	invoke(t, out, bindings.OpCreate, "v1", map[string]string{"key": key})
	if got := invoke(t, out, bindings.OpGet, "", map[string]string{"key": key}); string(got.Data) != "v1" {
		t.Fatalf("get after create = %q, want v1", got.Data)
	}
	if ttl := rc.TTL(ctx, key).Val(); ttl != -1 {
		t.Fatalf("TTL without ttlInSeconds = %v, want none (-1)", ttl)
	}

	invoke(t, out, redis.OpSet, "v2", map[string]string{"key": key, "ttlInSeconds": "100"})
	if ttl := rc.TTL(ctx, key).Val(); ttl <= 0 || ttl > 100*time.Second {
		t.Fatalf("TTL after set with ttlInSeconds 100 = %v", ttl)
	}
	if got := rc.Get(ctx, key).Val(); got != "v2" {
		t.Fatalf("value after set = %q, want v2", got)
	}

	invoke(t, out, bindings.OpDelete, "", map[string]string{"key": key})
	if n := rc.Exists(ctx, key).Val(); n != 0 {
		t.Fatalf("key exists after delete")
	}
	_, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpGet, Metadata: map[string]string{"key": key}})
	if !errors.Is(err, bindings.ErrNotFound) {
		t.Fatalf("get of a missing key: err = %v, want ErrNotFound", err)
	}
	_, err = out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpDelete, Metadata: map[string]string{"key": key}})
	if !errors.Is(err, bindings.ErrNotFound) {
		t.Fatalf("delete of a missing key: err = %v, want ErrNotFound", err)
	}
	_, err = out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpGet})
	if err == nil || !strings.Contains(err.Error(), `"key"`) {
		t.Fatalf("get without key: err = %v, want one naming the key metadata", err)
	}
}

func TestIncrementWithComponentTTL(t *testing.T) {
	ctx := testContext(t)
	out := openOutput(t, map[string]string{"ttlInSeconds": "50"})
	key := unique("counter")
	for want := 1; want <= 3; want++ {
		got := invoke(t, out, redis.OpIncrement, "", map[string]string{"key": key})
		if string(got.Data) != string(rune('0'+want)) {
			t.Fatalf("increment %d answered %q", want, got.Data)
		}
	}
	if ttl := raw(t).TTL(ctx, key).Val(); ttl <= 0 || ttl > 50*time.Second {
		t.Fatalf("TTL after increment with component ttlInSeconds 50 = %v", ttl)
	}
	_, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: redis.OpIncrement, Metadata: map[string]string{"key": key, "ttlInSeconds": "soon"}})
	if err == nil {
		t.Fatal("increment with ttlInSeconds \"soon\" succeeded")
	}
}

func TestCreateAppendsWhenTheComponentHasAStream(t *testing.T) {
	ctx := testContext(t)
	stream := unique("stream")
	out := openOutput(t, map[string]string{"stream": stream})
	resp, err := out.Invoke(ctx, &bindings.InvokeRequest{
		Operation: bindings.OpCreate, Data: []byte(`{"n":1}`), ContentType: "application/json",
		Metadata: map[string]string{"key": "k1", "trace": "abc"},
	})
	if err != nil {
		t.Fatal(err)
	}
	entries := raw(t).XRange(ctx, stream, "-", "+").Val()
	if len(entries) != 1 {
		t.Fatalf("stream has %d entries, want 1", len(entries))
	}
	e := entries[0]
	if e.ID != resp.Metadata["id"] {
		t.Errorf("create answered id %q, entry is %q", resp.Metadata["id"], e.ID)
	}
	want := map[string]any{"data": `{"n":1}`, "contentType": "application/json", "key": "k1", "trace": "abc"}
	if len(e.Values) != len(want) {
		t.Errorf("entry fields = %v, want %v", e.Values, want)
	}
	for k, v := range want {
		if e.Values[k] != v {
			t.Errorf("field %q = %v, want %v", k, e.Values[k], v)
		}
	}
	if raw(t).Exists(ctx, "k1").Val() != 0 {
		t.Error("create with a stream also set the key")
	}
}

func TestXAddTrimsToMaxLenApprox(t *testing.T) {
	ctx := testContext(t)
	stream := unique("trimmed")
	out := openOutput(t, map[string]string{"maxLenApprox": "10"})
	for i := 0; i < 1000; i++ {
		invoke(t, out, redis.OpXAdd, "x", map[string]string{"stream": stream})
	}
	// "~" trims whole macro nodes (100 entries by default), so the length
	// is near the limit rather than at it.
	if n := raw(t).XLen(ctx, stream).Val(); n > 200 {
		t.Fatalf("stream length after 1000 appends with maxLenApprox 10 = %d", n)
	}
	e := raw(t).XRevRangeN(ctx, stream, "+", "-", 1).Val()
	if _, ok := e[0].Values["stream"]; ok {
		t.Error(`xadd wrote its "stream" metadata as a field`)
	}
}

func TestPublish(t *testing.T) {
	ctx := testContext(t)
	channel := unique("channel")
	sub := raw(t).Subscribe(ctx, channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	out := openOutput(t, nil)
	resp := invoke(t, out, redis.OpPublish, "hello", map[string]string{"channel": channel})
	if resp.Metadata["receivers"] != "1" {
		t.Errorf("receivers = %q, want 1", resp.Metadata["receivers"])
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Payload != "hello" {
		t.Errorf("published payload = %q", msg.Payload)
	}
}

func TestInputRoundTrip(t *testing.T) {
	ctx := testContext(t)
	stream := unique("orders")
	out := openOutput(t, map[string]string{"stream": stream})
	in := openInput(t, map[string]string{"stream": stream})
	invoke(t, out, bindings.OpCreate, "payload", map[string]string{"contentType": "text/plain", "partitionKey": "p1", "a": "b"})

	m := receiveOne(t, in)
	if string(m.Data) != "payload" || m.ContentType != "text/plain" {
		t.Errorf("message = %q (%s), want payload (text/plain)", m.Data, m.ContentType)
	}
	if md := m.ReadMetadata(); md["a"] != "b" || md["stream"] != stream || md["partitionKey"] != "p1" || m.Key != "p1" {
		t.Errorf("metadata = %v, key %q", md, m.Key)
	}
	if md := m.ReadMetadata(); md["data"] != "" || md["contentType"] != "" {
		t.Errorf("metadata %v has the payload's fields", md)
	}
	if m.DeliveryCount != 1 || m.Time.IsZero() || m.ID == "" {
		t.Errorf("delivery count %d, time %v, id %q", m.DeliveryCount, m.Time, m.ID)
	}
	if err := in.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := in.Ack(ctx, m); !errors.Is(err, redis.ErrSettled) {
		t.Errorf("second ack: err = %v, want ErrSettled", err)
	}
	if p := raw(t).XPending(ctx, stream, "in").Val(); p.Count != 0 {
		t.Errorf("%d entries pending after ack", p.Count)
	}
}

func TestEntryWithoutDataFieldArrivesAsJSON(t *testing.T) {
	ctx := testContext(t)
	stream := unique("foreign")
	in := openInput(t, map[string]string{"stream": stream})
	raw(t).XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"name", "ada", "age", "36"}})
	m := receiveOne(t, in)
	var got map[string]string
	if err := json.Unmarshal(m.Data, &got); err != nil || got["name"] != "ada" || got["age"] != "36" {
		t.Fatalf("data = %s (%v), want the fields as a JSON object", m.Data, err)
	}
	if m.ContentType != "application/json" {
		t.Errorf("content type %q", m.ContentType)
	}
}

func TestNackRedeliversWithCountFromThePendingList(t *testing.T) {
	ctx := testContext(t)
	stream := unique("retry")
	in := openInput(t, map[string]string{"stream": stream})
	out := openOutput(t, map[string]string{"stream": stream})
	invoke(t, out, bindings.OpCreate, "again", nil)

	first := receiveOne(t, in)
	if err := in.Nack(ctx, first, 0); err != nil {
		t.Fatal(err)
	}
	if err := in.Nack(ctx, first, 0); !errors.Is(err, redis.ErrSettled) {
		t.Errorf("second nack: err = %v, want ErrSettled", err)
	}
	second := receiveOne(t, in)
	if second.ID != first.ID || string(second.Data) != "again" || second.DeliveryCount != 2 {
		t.Fatalf("redelivery: id %s data %q count %d, want id %s, count 2", second.ID, second.Data, second.DeliveryCount, first.ID)
	}
	if err := in.Nack(ctx, second, 0); err != nil {
		t.Fatal(err)
	}
	third := receiveOne(t, in)
	if third.DeliveryCount != 3 {
		t.Fatalf("third delivery count %d", third.DeliveryCount)
	}
	if err := in.Ack(ctx, third); err != nil {
		t.Fatal(err)
	}
}

// A consumer that received an entry and died without settling it: another
// consumer claims the entry once it has been idle for processingTimeout.
func TestPendingEntriesOfADeadConsumerAreClaimed(t *testing.T) {
	ctx := testContext(t)
	stream := unique("orphans")
	md := map[string]string{"stream": stream, "consumerGroup": "g", "processingTimeout": "200ms", "redeliverInterval": "50ms"}
	out := openOutput(t, map[string]string{"stream": stream})
	invoke(t, out, bindings.OpCreate, "orphan", nil)
	alive := openInput(t, md) // makes the group

	// The dead consumer: it read the entry and never came back.
	res, err := raw(t).XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "g", Consumer: "dead", Streams: []string{stream, ">"}, Count: 1}).Result()
	if err != nil || len(res[0].Messages) != 1 {
		t.Fatalf("dead consumer's read: %v %v", res, err)
	}
	got := receiveOne(t, alive)
	if got.ID != res[0].Messages[0].ID || got.DeliveryCount != 2 {
		t.Fatalf("claimed %s with count %d, want %s with count 2", got.ID, got.DeliveryCount, res[0].Messages[0].ID)
	}
	if err := alive.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
}

// The runtime renews what a consumer holds with ExtendLeases, every half of
// LeaseInterval (a third of processingTimeout), so that no other consumer
// claims it: here for several times processingTimeout. Once renewals stop,
// another consumer claims the entry, and the holder's next renewal says so.
func TestExtendLeasesKeepsEntriesWithALiveConsumer(t *testing.T) {
	ctx := testContext(t)
	stream := unique("held")
	md := map[string]string{"stream": stream, "consumerGroup": "g", "processingTimeout": "1s", "redeliverInterval": "100ms"}
	out := openOutput(t, map[string]string{"stream": stream})
	invoke(t, out, bindings.OpCreate, "held", nil)
	holder := openInput(t, md)
	interval := holder.(interface{ LeaseInterval() time.Duration }).LeaseInterval()
	if interval != time.Second/3 {
		t.Fatalf("LeaseInterval %s, want a third of processingTimeout", interval)
	}
	m := receiveOne(t, holder)

	// When each renewal landed: a claim by the other consumer is a failure
	// only if the holder renewed in time (a loaded machine may stall the
	// renewing goroutine past processingTimeout, and then a claim is right).
	var renewMu sync.Mutex
	renewals := []time.Time{time.Now()}
	renewing, stop := context.WithCancel(ctx)
	renewed := make(chan error, 1)
	go func() {
		tick := time.NewTicker(interval / 2)
		defer tick.Stop()
		for {
			select {
			case <-renewing.Done():
				renewed <- nil
				return
			case <-tick.C:
			}
			if err := holder.(bindings.LeaseExtender).ExtendLeases(renewing, []*bindings.Message{m}, 2*interval); err != nil && renewing.Err() == nil {
				renewed <- err
				return
			}
			renewMu.Lock()
			renewals = append(renewals, time.Now())
			renewMu.Unlock()
		}
	}()
	other := openInput(t, md)
	window, cancel := context.WithTimeout(ctx, 3500*time.Millisecond)
	defer cancel()
	if msgs, err := other.Receive(window, 1); !errors.Is(err, context.DeadlineExceeded) {
		renewMu.Lock()
		gap := time.Since(renewals[len(renewals)-1])
		for i := 1; i < len(renewals); i++ {
			gap = max(gap, renewals[i].Sub(renewals[i-1]))
		}
		renewMu.Unlock()
		if gap >= time.Second {
			t.Skipf("renewals stalled for %s, past processingTimeout (a loaded machine): the claim was right, and the test shows nothing", gap)
		}
		t.Fatalf("another consumer received %d messages (%v) while the holder renewed (longest gap between renewals %s)", len(msgs), err, gap)
	}
	stop()
	if err := <-renewed; err != nil {
		t.Fatal(err)
	}
	p := raw(t).XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: "g", Start: "-", End: "+", Count: 10}).Val()
	if len(p) != 1 || p[0].RetryCount != 1 || p[0].Idle >= time.Second {
		t.Fatalf("pending after 3.5s held: %+v, want the entry once delivered, idle under processingTimeout", p)
	}
	got := receiveOne(t, other) // no renewal now: claimed after processingTimeout
	if err := holder.(bindings.LeaseExtender).ExtendLeases(ctx, []*bindings.Message{m}, 2*interval); !errors.Is(err, redis.ErrClaimed) {
		t.Errorf("renewal of an entry another consumer claimed: %v, want ErrClaimed", err)
	}
	if err := other.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
}

// Close hands entries in flight back to the group at once: a consumer whose
// processingTimeout is an hour still gets them on its first scan.
func TestCloseReleasesEntriesInFlight(t *testing.T) {
	ctx := testContext(t)
	stream := unique("closing")
	md := map[string]string{"stream": stream, "consumerGroup": "g", "processingTimeout": "1h"}
	out := openOutput(t, map[string]string{"stream": stream})
	invoke(t, out, bindings.OpCreate, "in flight", nil)

	first := openInput(t, md)
	m := receiveOne(t, first)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Receive(ctx, 1); !errors.Is(err, bindings.ErrClosed) {
		t.Errorf("receive after close: err = %v, want ErrClosed", err)
	}

	next := openInput(t, md)
	got := receiveOne(t, next)
	if got.ID != m.ID || got.DeliveryCount != 2 {
		t.Fatalf("got %s count %d, want %s count 2", got.ID, got.DeliveryCount, m.ID)
	}
	if err := next.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := next.Close(); err != nil {
		t.Fatal(err)
	}
	// The second consumer left the group, holding nothing; the first, which
	// held the entry when it closed, stays until a scan finds it long idle.
	if cs := raw(t).XInfoConsumers(ctx, stream, "g").Val(); len(cs) != 1 || cs[0].Pending != 0 {
		t.Errorf("consumers in the group: %+v, want only the first, with nothing pending", cs)
	}
}

func TestInputRecreatesADeletedStream(t *testing.T) {
	ctx := testContext(t)
	stream := unique("deleted")
	in := openInput(t, map[string]string{"stream": stream})
	raw(t).Del(ctx, stream)
	out := openOutput(t, map[string]string{"stream": stream})
	// The first receive finds no group and makes it again (on a new stream,
	// which the create below may make first); either way the entry arrives.
	invoke(t, out, bindings.OpCreate, "after", nil)
	got := receiveOne(t, in)
	if string(got.Data) != "after" {
		t.Fatalf("got %q", got.Data)
	}
}

func TestReceiveReturnsOnContextEnd(t *testing.T) {
	in := openInput(t, map[string]string{"stream": unique("quiet")})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := in.Receive(ctx, 1)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("receive: err = %v, want context.Canceled", err)
	}
}

func TestMetadataValidation(t *testing.T) {
	ctx := testContext(t)
	cases := []struct {
		name string
		dir  bindings.Direction
		md   map[string]string
		want string
	}{
		{"input without stream", bindings.DirInput, map[string]string{}, `"stream"`},
		{"zero processingTimeout", bindings.DirInput, map[string]string{"stream": "s", "processingTimeout": "0"}, "processingTimeout"},
		{"unknown key", bindings.DirOutput, map[string]string{"redisHots": "x"}, "redisHost"},
		{"failover without master", bindings.DirOutput, map[string]string{"failover": "true"}, "sentinelMasterName"},
		{"negative maxLenApprox", bindings.DirOutput, map[string]string{"maxLenApprox": "-1"}, "maxLenApprox"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := bindings.Config{Name: "c", Type: redis.TypeName, Metadata: withHost(c.md)}
			var err error
			if c.dir == bindings.DirInput {
				_, _, err = bindings.OpenInput(ctx, cfg)
			} else {
				var out bindings.Output
				out, _, err = bindings.OpenOutput(ctx, cfg)
				if err == nil {
					out.Close()
				}
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %s", err, c.want)
			}
		})
	}
}
