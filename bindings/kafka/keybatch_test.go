package kafka_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/trigger"
)

// TestOrderedInputHandsOutAKeyBatch: told SetKeyBatch(3), an ordered
// input has up to three records of a partition out at once, in offset
// order, and the next one only once one of them is settled.
func TestOrderedInputHandsOutAKeyBatch(t *testing.T) {
	ctx := testContext(t)
	topic := newTopic(t, "keybatch", 2) // partition 1 stays empty until the sentinel
	produce(t, topic, records(0, "p0", 6)...)
	in := openInput(t, inputMetadata(t, topic, topic, "ordered", "true"))
	kb, ok := in.(bindings.KeyBatcher)
	if !ok {
		t.Fatal("the kafka input is no bindings.KeyBatcher")
	}
	kb.SetKeyBatch(3)

	out := receive(t, ctx, in, 3)
	if got := payloads(out); got != "[p0-0(#1) p0-1(#1) p0-2(#1)]" {
		t.Fatalf("first three out: %s", got)
	}
	// Three are out: a record on the idle partition is the next thing
	// handed out, not a fourth of partition 0.
	produce(t, topic, &kgo.Record{Partition: 1, Value: []byte("sentinel")})
	if got := untilSentinel(t, ctx, in, "sentinel"); len(got) != 1 {
		t.Fatalf("partition 0 has three records out, but Receive returned %s", payloads(got))
	}
	ack(t, ctx, in, out[0])
	if got := payloads(receive(t, ctx, in, 1)); got != "[p0-3(#1)]" {
		t.Fatalf("after one ack: %s, want p0-3", got)
	}
}

// TestOrderedBatchFunctionGetsBatchesOfAPartition: an ordered trigger's
// batch function gets batches of many records of one partition (not one
// per partition, as a single-message function's input hands them out),
// each partition's records in offset order across the batches.
func TestOrderedBatchFunctionGetsBatchesOfAPartition(t *testing.T) {
	topic := newTopic(t, "keybatch-fn", 2)
	const perPartition = 30
	produce(t, topic, append(records(0, "p0", perPartition), records(1, "p1", perPartition)...)...)
	set := bindingtest.LoadComponents(t, bindingtest.ComponentYAML("in", "bindings.kafka", map[string]string{
		"brokers": brokers(t), "topics": topic, "consumerGroup": topic, "initialOffset": "oldest",
		"ordered": "true", "maxBatchSize": "10", "maxBatchWait": "5s", "direction": "input"}))
	var (
		mu      sync.Mutex
		next    = map[string]int{} // partition prefix -> next index
		largest int
		errs    []string
		done    = make(chan struct{})
		handled int
	)
	startRuntime(t, set, trigger.Function{Name: "batch", Trigger: "in",
		BatchHandler: func(_ context.Context, msgs []*bindings.Message) []error {
			mu.Lock()
			defer mu.Unlock()
			largest = max(largest, len(msgs))
			for _, m := range msgs {
				var p string
				var i int
				if _, err := fmt.Sscanf(strings.Replace(string(m.Data), "-", " ", 1), "%s %d", &p, &i); err != nil {
					errs = append(errs, fmt.Sprintf("unexpected record %q", m.Data))
					continue
				}
				if i != next[p] {
					errs = append(errs, fmt.Sprintf("%s: record %d while %d was next", p, i, next[p]))
				}
				next[p] = i + 1
				if handled++; handled == 2*perPartition {
					close(done)
				}
			}
			return nil
		}})
	select {
	case <-done:
	case <-testContext(t).Done():
		t.Fatalf("handled %d of %d records", handled, 2*perPartition)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, e := range errs {
		t.Error(e)
	}
	// Two partitions: one record per partition per batch would make
	// batches of at most two.
	if largest <= 2 {
		t.Errorf("largest batch %d records: the input handed out one record per partition", largest)
	}
}
