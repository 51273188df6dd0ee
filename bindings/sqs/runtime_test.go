package sqs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/trigger"
)

// componentYAML renders an SQS component on the test endpoint.
func componentYAML(t testing.TB, name, queue string, extra map[string]string) string {
	return bindingtest.ComponentYAML(name, "bindings.aws.sqs", metadata(t, queue, extra))
}

// TestRuntimeExtendsVisibility runs a handler three times as long as the
// visibility timeout, with a second worker free to take the message should
// it come back: the runtime's lease extension (at the driver's
// LeaseInterval) keeps it hidden, so it is handled once.
func TestRuntimeExtendsVisibility(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t, false, nil)
	const visibility = 2 * time.Second
	set := bindingtest.LoadComponents(t, componentYAML(t, "jobs", queue, map[string]string{
		"messageVisibilityTimeout": "2", "messageWaitTimeSeconds": "1", "maxConcurrency": "2",
	}))
	var mu sync.Mutex
	deliveries := map[string][]int{} // payload → delivery counts seen
	handled := make(chan string, 10)
	rt, err := trigger.New(trigger.Options{Components: set, Functions: []trigger.Function{{
		Name: "slow", Trigger: "jobs",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			mu.Lock()
			deliveries[string(m.Data)] = append(deliveries[string(m.Data)], m.DeliveryCount)
			mu.Unlock()
			if string(m.Data) == "slow" {
				select { // the long job
				case <-time.After(3 * visibility):
				case <-ctx.Done():
					return trigger.Result{}, ctx.Err()
				}
			}
			handled <- string(m.Data)
			return trigger.Result{}, nil
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	out := openOutput(t, ctx, metadata(t, queue, nil))
	create(t, ctx, out, "slow", nil)
	waitFor(t, ctx, handled, "slow")
	// Anything redelivered meanwhile would be handled before a message sent
	// now.
	create(t, ctx, out, "sentinel", nil)
	waitFor(t, ctx, handled, "sentinel")
	mu.Lock()
	defer mu.Unlock()
	if got := deliveries["slow"]; len(got) != 1 || got[0] != 1 {
		t.Errorf("the slow message was delivered with counts %v; want once, its lease extended", got)
	}
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if d := queueDepth(t, ctx, queue); d != 0 {
		t.Errorf("after both messages were handled and the runtime stopped, the queue holds %d", d)
	}
}

func waitFor(t *testing.T, ctx context.Context, handled <-chan string, want string) {
	t.Helper()
	for {
		select {
		case got := <-handled:
			if got == want {
				return
			}
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %q to be handled", want)
		}
	}
}
