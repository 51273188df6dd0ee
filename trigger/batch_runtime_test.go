package trigger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/trigger"
)

// TestBatchFunctionRefusals: what a batch function cannot have is refused
// at registration, with the reason.
func TestBatchFunctionRefusals(t *testing.T) {
	set := loadComponents(t, memoryComponent("in", unique(t, "in"), nil), memoryComponent("out", unique(t, "out"), nil))
	batch := func(context.Context, []*bindings.Message) []error { return nil }
	single := func(context.Context, *bindings.Message) (trigger.Result, error) { return trigger.Result{}, nil }
	for _, tc := range []struct {
		name string
		fn   trigger.Function
		want string
	}{
		{"middleware", trigger.Function{Name: "fn", Trigger: "in", BatchHandler: batch,
			Middleware: []trigger.Middleware{trigger.Logging()}}, "Middleware wraps a Handler"},
		{"return", trigger.Function{Name: "fn", Trigger: "in", BatchHandler: batch, Return: "out"}, "cannot have a return binding"},
		{"both handlers", trigger.Function{Name: "fn", Trigger: "in", BatchHandler: batch, Handler: single}, "both Handler and BatchHandler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := trigger.New(trigger.Options{Components: set, Functions: []trigger.Function{tc.fn}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// batchFaults is a batch handler that fails items as the dice say, per
// item and attempt: 10 % fail, 2 % fail for good, and a batch holding an
// item that rolls 12 panics as a whole. On an ordered trigger it stops
// handling a key at its first failure in the batch (the rest of that key
// comes back anyway) and checks that each key's items succeed in order.
type batchFaults struct {
	c       *tally
	ordered bool
	t       testing.TB

	mu   sync.Mutex
	last map[string]int // ordered: the last sequence number handled per key
}

func (f *batchFaults) handle(ctx context.Context, ms []*bindings.Message) []error {
	errs := make([]error, len(ms))
	for _, m := range ms {
		if roll(string(m.Data), max(m.DeliveryCount, 1)) == 12 {
			panic("a batch with " + string(m.Data))
		}
	}
	var failedKeys []string
	for i, m := range ms {
		id := string(m.Data)
		if f.ordered && m.Key != "" && contains(failedKeys, m.Key) {
			continue
		}
		switch r := roll(id, max(m.DeliveryCount, 1)); {
		case r < 10:
			errs[i] = fmt.Errorf("fails on attempt %d", m.DeliveryCount)
		case r < 12:
			errs[i] = functions.Permanent(errors.New("bad item"))
		}
		if errs[i] != nil {
			failedKeys = append(failedKeys, m.Key)
			continue
		}
		if f.ordered {
			var seq int
			fmt.Sscanf(id[strings.IndexByte(id, ' ')+1:], "%d", &seq)
			f.mu.Lock()
			if prev, ok := f.last[m.Key]; ok && seq <= prev {
				f.t.Errorf("key %s: %d handled after %d", m.Key, seq, prev)
			}
			f.last[m.Key] = seq
			f.mu.Unlock()
		}
		f.c.add(f.c.handled, id)
	}
	return errs
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// countDeadLetters is the function that counts a dead-letter queue.
func countDeadLetters(t testing.TB, c *tally, trig string) trigger.Function {
	return trigger.Function{Name: "count-dead", Trigger: trig, Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
		var env functions.DeadLetter
		if err := json.Unmarshal(m.Data, &env); err != nil {
			return trigger.Result{}, functions.Permanent(err)
		}
		if env.Function != "batch" || env.Error == "" {
			t.Errorf("dead letter envelope %+v", env)
		}
		c.add(c.deadLettered, string(env.Data))
		return trigger.Result{}, nil
	}}
}

// TestBatchLosesNothing: every message sent to a batch function ends
// handled or dead-lettered, under per-item failures, permanent failures
// and whole-batch panics, unordered and ordered.
func TestBatchLosesNothing(t *testing.T) {
	const keys, perKey = 8, 250
	for _, ordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) {
			in, dlq := unique(t, "in"), unique(t, "dlq")
			set := loadComponents(t,
				memoryComponent("orders", in, map[string]string{
					"maxAttempts": "3", "initialInterval": "1ms", "maxInterval": "5ms", "ordered": fmt.Sprint(ordered),
					"maxConcurrency": "4", "maxBatchSize": "50", "deadLetter": "dead",
				}),
				memoryComponent("dead", dlq, nil),
			)
			c := newTally(keys * perKey)
			f := &batchFaults{c: c, ordered: ordered, t: t, last: map[string]int{}}
			startRuntime(t, set,
				trigger.Function{Name: "batch", Trigger: "orders", BatchHandler: f.handle},
				countDeadLetters(t, c, "dead"))
			var msgs []*bindings.Message
			for i := range perKey {
				for k := range keys {
					msgs = append(msgs, &bindings.Message{Data: fmt.Appendf(nil, "k%d %d", k, i), Key: fmt.Sprintf("k%d", k)})
				}
			}
			memory.Publish(in, msgs...)
			c.wait(t, 2*time.Minute)
			c.noneBoth(t)
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.deadLettered) == 0 || len(c.handled) == 0 {
				t.Errorf("%d handled, %d dead-lettered: the dice should give both", len(c.handled), len(c.deadLettered))
			}
		})
	}
}

// TestBatchLosesNothingOnRedis: the same count through a Redis stream, a
// broker with leases (pending entries) and no delayed nack, so retries are
// held by the runtime.
func TestBatchLosesNothingOnRedis(t *testing.T) {
	const n = 2000
	addr := brokerURL("TETHER_TEST_REDIS_ADDR", "127.0.0.1:6379")
	stream, dlq := bindingtest.Unique("batch-orders"), unique(t, "dlq")
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Del(context.Background(), stream); rdb.Close() })
	redis := func(name, direction string, md map[string]string) string {
		md["redisHost"], md["stream"], md["direction"] = addr, stream, direction
		return bindingtest.ComponentYAML(name, "bindings.redis", md)
	}
	set := loadComponents(t,
		redis("orders", "input", map[string]string{
			"maxAttempts": "3", "initialInterval": "1ms", "maxInterval": "5ms",
			"maxConcurrency": "4", "maxBatchSize": "100", "maxBatchWait": "5ms", "deadLetter": "dead",
		}),
		redis("send", "output", map[string]string{}),
		memoryComponent("dead", dlq, nil),
	)
	c := newTally(n)
	f := &batchFaults{c: c, t: t}
	rt := startRuntime(t, set,
		trigger.Function{Name: "batch", Trigger: "orders", BatchHandler: f.handle},
		countDeadLetters(t, c, "dead"))
	out, ok := rt.Output("send")
	if !ok {
		t.Fatal("no output send")
	}
	ctx := context.Background()
	for i := range n {
		if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: fmt.Appendf(nil, "m %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	c.wait(t, 2*time.Minute)
	c.noneBoth(t)
}
