package trigger_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

// TestNoMessageWaitsBehindASlowHandler: workers whose handlers were fast
// take runs of messages; when one handler of a run blocks, the run's other
// messages are handled by the other worker meanwhile (stolen), and every
// one of them is acked before the blocked one returns.
func TestNoMessageWaitsBehindASlowHandler(t *testing.T) {
	q := unique(t, "runs")
	release := make(chan struct{})
	var handled atomic.Int64
	startRuntime(t, loadComponents(t, memoryComponent("in", q, map[string]string{"maxConcurrency": "2", "batchSize": "64"})),
		trigger.Function{Name: "f", Trigger: "in", Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			if string(m.Data) == "block" {
				select {
				case <-release:
				case <-ctx.Done():
					return trigger.Result{}, ctx.Err()
				}
			}
			handled.Add(1)
			return trigger.Result{}, nil
		}})
	publish := func(data ...string) {
		msgs := make([]*bindings.Message, len(data))
		for i, d := range data {
			msgs[i] = &bindings.Message{Data: []byte(d)}
		}
		memory.Publish(q, msgs...)
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waited 30s for %s: %d handled, %d in the queue", what, handled.Load(), memory.Len(q))
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Fast handlers first, so that the workers take runs; then, after both
	// sleep, a batch whose first message blocks its handler.
	for range 20 {
		publish("fast", "fast", "fast", "fast", "fast")
		waitUntil("the fast messages", func() bool { return memory.Len(q) == 0 })
	}
	before := handled.Load()
	publish("block", "1", "2", "3", "4", "5", "6", "7", "8", "9")
	waitUntil("the 9 messages behind the blocked one", func() bool {
		return handled.Load() == before+9 && memory.Len(q) == 1 // acked: only the blocked one left
	})
	close(release)
	waitUntil("the blocked message", func() bool { return memory.Len(q) == 0 })
}
