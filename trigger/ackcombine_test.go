package trigger

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/tetherfn/tether/bindings"
)

// TestAckLeftToTheCallerAcking: an ack given while another is under way
// returns at once, and the caller acking acks it before it returns.
func TestAckLeftToTheCallerAcking(t *testing.T) {
	first, second := &bindings.Message{ID: "first"}, &bindings.Message{ID: "second"}
	acking := make(chan struct{})
	release := make(chan struct{})
	var batches [][]string
	c := &ackCombiner{ack: func(msgs []*bindings.Message) {
		var ids []string
		for _, m := range msgs {
			ids = append(ids, m.ID)
		}
		batches = append(batches, ids)
		if len(batches) == 1 {
			close(acking)
			<-release
		}
	}}
	done := make(chan struct{})
	go func() {
		c.add(first)
		close(done)
	}()
	<-acking
	c.add(second) // returns at once (or never): the first caller is acking
	close(release)
	<-done
	want := [][]string{{"first"}, {"second"}}
	if !slices.EqualFunc(batches, want, slices.Equal) {
		t.Errorf("acked %v, want %v", batches, want)
	}
}

// TestEveryAckMadeOnce: callers adding at once have every message acked
// exactly once by the time the last of them returns.
func TestEveryAckMadeOnce(t *testing.T) {
	const callers, each = 16, 2000
	var mu sync.Mutex
	acked := map[string]int{}
	calls := 0
	c := &ackCombiner{ack: func(msgs []*bindings.Message) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		for _, m := range msgs {
			acked[m.ID]++
		}
	}}
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				c.add(&bindings.Message{ID: fmt.Sprintf("%d/%d", g, i)})
			}
		})
	}
	wg.Wait()
	if len(acked) != callers*each {
		t.Errorf("%d messages acked, want %d", len(acked), callers*each)
	}
	for id, n := range acked {
		if n != 1 {
			t.Errorf("message %s acked %d times", id, n)
		}
	}
	t.Logf("%d messages in %d calls", callers*each, calls)
}
