package trigger_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/trigger"
)

// unique returns a queue name no other test run shares.
func unique(t testing.TB, base string) string {
	return fmt.Sprintf("%s-%s-%d", base, strings.ReplaceAll(t.Name(), "/", "-"), rand.Uint64())
}

// memoryComponent renders a memory component file on queue.
func memoryComponent(name, queue string, md map[string]string) string {
	md = maps.Clone(md)
	if md == nil {
		md = map[string]string{}
	}
	md["queue"] = queue
	return bindingtest.ComponentYAML(name, "bindings.memory", md)
}

// loadComponents loads the files as a function process does at start-up.
func loadComponents(t testing.TB, files ...string) *component.Set {
	t.Helper()
	return bindingtest.LoadComponents(t, files...)
}

// startRuntime starts fns on set, and shuts the runtime down when the test
// ends.
func startRuntime(t testing.TB, set *component.Set, fns ...trigger.Function) *trigger.Runtime {
	t.Helper()
	return startWith(t, trigger.Options{Components: set, Functions: fns})
}

// startWith starts a runtime with opts, and shuts it down when the test
// ends (an error doing so fails the test). Unset, ShutdownGrace is 5s and
// the logger writes to stderr when TETHER_TEST_LOG is set.
func startWith(t testing.TB, opts trigger.Options) *trigger.Runtime {
	t.Helper()
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = 5 * time.Second
	}
	if opts.Logger == nil && os.Getenv("TETHER_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	rt, err := trigger.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return rt
}

func publish(queue string, ids ...string) {
	msgs := make([]*bindings.Message, len(ids))
	for i, id := range ids {
		msgs[i] = &bindings.Message{Data: []byte(id), ContentType: "text/plain"}
	}
	memory.Publish(queue, msgs...)
}

// tally counts handled and dead-lettered message payloads.
type tally struct {
	mu           sync.Mutex
	handled      map[string]int
	deadLettered map[string]int
	total        int
	want         int
	done         chan struct{}
}

func newTally(want int) *tally {
	return &tally{handled: map[string]int{}, deadLettered: map[string]int{}, want: want, done: make(chan struct{})}
}

func (c *tally) add(m map[string]int, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m[id]++
	if m[id] == 1 {
		c.total++
	}
	if c.total == c.want {
		close(c.done)
	}
}

func (c *tally) wait(t testing.TB, within time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(within):
		c.mu.Lock()
		defer c.mu.Unlock()
		t.Fatalf("gave up after %s: %d of %d messages accounted for (%d handled, %d dead-lettered)",
			within, c.total, c.want, len(c.handled), len(c.deadLettered))
	}
}

// noneBoth fails t for each message both handled and dead-lettered.
func (c *tally) noneBoth(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.handled {
		if c.deadLettered[id] > 0 {
			t.Errorf("%s both handled and dead-lettered", id)
		}
	}
}

// roll is a deterministic dice roll in [0, 100) per message and attempt.
func roll(id string, attempt int) int {
	// sha256 rather than FNV: FNV's rolls for attempts 1 and 2 of one id
	// are strongly correlated, which would hide repeated failures.
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", id, attempt))
	return int(binary.BigEndian.Uint32(sum[:4]) % 100)
}

// TestDeliveryUnderFaults pushes 10,000 messages through a trigger whose
// handler fails 10 % of its attempts, panics on 1 % and times out on 1 %.
// Every message must end handled or dead-lettered: exactly 10,000 in all.
func TestDeliveryUnderFaults(t *testing.T) {
	const n = 10000
	in, dlq := unique(t, "in"), unique(t, "dlq")
	set := loadComponents(t,
		memoryComponent("orders", in, map[string]string{
			"maxAttempts": "2", "initialInterval": "1ms", "maxInterval": "5ms",
			"handlerTimeout": "20ms", "maxConcurrency": "32", "deadLetter": "dead",
		}),
		memoryComponent("dead", dlq, nil),
	)
	c := newTally(n)
	var attemptsMu sync.Mutex
	attempts := map[string]int{}
	handler := func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
		id := string(m.Data)
		d := functions.FromContext(ctx)
		attemptsMu.Lock()
		attempts[id]++
		attemptsMu.Unlock()
		switch r := roll(id, d.Attempt); {
		case r < 10:
			return trigger.Result{}, fmt.Errorf("fails on attempt %d", d.Attempt)
		case r == 10:
			panic("panics on attempt " + fmt.Sprint(d.Attempt))
		case r == 11:
			<-ctx.Done()
			return trigger.Result{}, ctx.Err()
		}
		c.add(c.handled, id)
		return trigger.Result{}, nil
	}
	deadHandler := func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
		var env functions.DeadLetter
		if err := json.Unmarshal(m.Data, &env); err != nil {
			return trigger.Result{}, functions.Permanent(err)
		}
		if env.Function != "process" || env.Binding != "orders" || env.Attempts != 2 || env.Error == "" {
			t.Errorf("dead letter envelope %+v", env)
		}
		c.add(c.deadLettered, string(env.Data))
		return trigger.Result{}, nil
	}
	startRuntime(t, set,
		trigger.Function{Name: "process", Trigger: "orders", Handler: handler},
		trigger.Function{Name: "count-dead", Trigger: "dead", Handler: deadHandler},
	)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%05d", i)
	}
	publish(in, ids...)
	c.wait(t, 2*time.Minute)

	c.mu.Lock()
	defer c.mu.Unlock()
	var both, dupHandled, dupDead int
	for id, k := range c.handled {
		if c.deadLettered[id] > 0 {
			both++
		}
		if k > 1 {
			dupHandled++
		}
	}
	for _, k := range c.deadLettered {
		if k > 1 {
			dupDead++
		}
	}
	t.Logf("%d handled + %d dead-lettered = %d of %d; duplicates: %d handled twice, %d dead-lettered twice, %d both",
		len(c.handled), len(c.deadLettered), c.total, n, dupHandled, dupDead, both)
	if len(c.handled)+len(c.deadLettered)-both != n {
		t.Errorf("accounted for %d distinct messages, want %d", len(c.handled)+len(c.deadLettered)-both, n)
	}
	// With these odds roughly 1.4 % fail both attempts: the dead-letter path
	// must really have been exercised, and retries must have rescued some.
	if len(c.deadLettered) == 0 {
		t.Error("no message was dead-lettered; the faults did not happen")
	}
	attemptsMu.Lock()
	retried := 0
	for id, a := range attempts {
		if a > 1 && c.handled[id] > 0 {
			retried++
		}
	}
	attemptsMu.Unlock()
	if retried == 0 {
		t.Error("no message succeeded on a retry")
	}
	if dupHandled+dupDead+both > 0 {
		t.Errorf("duplicates on the memory binding, which acks reliably")
	}
}

// TestRetryDoesNotBlockOthers: with a single worker, one message that keeps
// failing (and waits an hour between attempts) must not hold up the rest.
func TestRetryDoesNotBlockOthers(t *testing.T) {
	for _, typ := range []string{"bindings.memory", "test.memory-nodelay"} {
		t.Run(typ, func(t *testing.T) {
			q := unique(t, "q")
			file := strings.Replace(memoryComponent("in", q, map[string]string{
				"maxConcurrency": "1", "initialInterval": "1h", "maxInterval": "1h",
			}), "bindings.memory", typ, 1)
			set := loadComponents(t, file)
			const n = 100
			c := newTally(n)
			badAttempts := make(chan int, 10)
			rt := startRuntime(t, set, trigger.Function{Name: "fn", Trigger: "in",
				Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
					if string(m.Data) == "bad" {
						badAttempts <- functions.FromContext(ctx).Attempt
						return trigger.Result{}, fmt.Errorf("always fails")
					}
					c.add(c.handled, string(m.Data))
					return trigger.Result{}, nil
				}})
			publish(q, "bad")
			if a := <-badAttempts; a != 1 {
				t.Fatalf("first attempt numbered %d", a)
			}
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprint(i)
			}
			publish(q, ids...)
			c.wait(t, time.Minute)
			select {
			case a := <-badAttempts:
				t.Fatalf("bad message retried (attempt %d) before its 1h backoff", a)
			default:
			}
			// The failing message is still owned by the trigger, not lost:
			// shutdown gives it back to the queue.
			if err := rt.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if l := memory.Len(q); l != 1 {
				t.Errorf("queue holds %d messages after shutdown, want the 1 failing message", l)
			}
		})
	}
}

// TestOrderedRetriesInPlace: an ordered trigger handles each key's messages
// in order even when some attempts fail.
func TestOrderedRetriesInPlace(t *testing.T) {
	q := unique(t, "q")
	set := loadComponents(t, memoryComponent("in", q, map[string]string{
		"ordered": "true", "maxConcurrency": "4", "initialInterval": "1ms", "maxInterval": "2ms", "maxAttempts": "10",
	}))
	const keys, perKey = 8, 50
	c := newTally(keys * perKey)
	var mu sync.Mutex
	last := map[string]int{}
	startRuntime(t, set, trigger.Function{Name: "fn", Trigger: "in",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			var k string
			var seq int
			fmt.Sscanf(string(m.Data), "%s %d", &k, &seq)
			if roll(string(m.Data), functions.FromContext(ctx).Attempt) < 20 {
				return trigger.Result{}, fmt.Errorf("flaky")
			}
			mu.Lock()
			if prev, ok := last[k]; ok && seq != prev+1 {
				t.Errorf("key %s: %d after %d", k, seq, prev)
			}
			last[k] = seq
			mu.Unlock()
			c.add(c.handled, string(m.Data))
			return trigger.Result{}, nil
		}})
	var msgs []*bindings.Message
	for i := range perKey {
		for k := range keys {
			msgs = append(msgs, &bindings.Message{Data: fmt.Appendf(nil, "k%d %d", k, i),
				Key: fmt.Sprintf("k%d", k)})
		}
	}
	memory.Publish(q, msgs...)
	c.wait(t, time.Minute)
}

// TestOrderedPoisonHoldsOnlyItsKey: in an ordered trigger a message that
// keeps failing (and waits an hour between attempts, in place) holds up the
// messages of its own key and nothing else, even with fewer workers than
// keys.
func TestOrderedPoisonHoldsOnlyItsKey(t *testing.T) {
	q := unique(t, "q")
	set := loadComponents(t, memoryComponent("in", q, map[string]string{
		"ordered": "true", "maxConcurrency": "2", "initialInterval": "1h", "maxInterval": "1h",
	}))
	const keys, perKey = 16, 20
	c := newTally((keys - 1) * perKey)
	poisonTried := make(chan struct{}, 1)
	rt := startRuntime(t, set, trigger.Function{Name: "fn", Trigger: "in",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			if m.Key == "k0" {
				if string(m.Data) != "k0 0" {
					t.Errorf("%s handled while k0's first message is still failing", m.Data)
				}
				select {
				case poisonTried <- struct{}{}:
				default:
				}
				return trigger.Result{}, fmt.Errorf("poison")
			}
			c.add(c.handled, string(m.Data))
			return trigger.Result{}, nil
		}})
	var msgs []*bindings.Message
	for i := range perKey {
		for k := range keys {
			msgs = append(msgs, &bindings.Message{Data: fmt.Appendf(nil, "k%d %d", k, i), Key: fmt.Sprintf("k%d", k)})
		}
	}
	memory.Publish(q, msgs...)
	<-poisonTried
	c.wait(t, time.Minute)
	// Shutdown gives the poison message and the k0 messages parked behind it
	// back to the queue.
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l := memory.Len(q); l != perKey {
		t.Errorf("queue holds %d messages after shutdown, want k0's %d", l, perKey)
	}
}
