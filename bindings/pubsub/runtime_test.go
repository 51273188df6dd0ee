package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/trigger"
)

// TestRuntimeHoldsRetries: Pub/Sub cannot delay a redelivery, so the
// runtime holds a failed message for its retry delay; the client library
// keeps extending its ack deadline meanwhile, so a delay longer than the
// deadline does not make Pub/Sub deliver the message a second time.
func TestRuntimeHoldsRetries(t *testing.T) {
	if testing.Short() {
		t.Skip("holds a message for 12s, past the 10s ack deadline; not with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	topic, sub := names()
	md := metadata(pstestAddr(), topic, sub, map[string]string{"ackDeadline": "10s"})
	inMD := map[string]string{"maxConcurrency": "4"}
	for k, v := range md {
		inMD[k] = v
	}
	set := bindingtest.LoadComponents(t, bindingtest.ComponentYAML("jobs", "bindings.gcp.pubsub", inMD))
	var mu sync.Mutex
	var attempts []string // payload/attempt of every handler call
	handled := make(chan string, 10)
	rt, err := trigger.New(trigger.Options{Components: set, Functions: []trigger.Function{{
		Name: "retrying", Trigger: "jobs",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			attempt := functions.FromContext(ctx).Attempt
			mu.Lock()
			attempts = append(attempts, fmt.Sprintf("%s/%d", m.Data, attempt))
			first := len(attempts) == 1
			mu.Unlock()
			if string(m.Data) == "flaky" && first {
				return trigger.Result{}, functions.RetryAfter(12*time.Second, errors.New("not yet"))
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
	out := openOutput(t, ctx, md)
	send := func(data string) {
		if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	send("flaky")
	waitFor(t, ctx, handled, "flaky")
	send("sentinel")
	waitFor(t, ctx, handled, "sentinel")
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"flaky/1", "flaky/1", "sentinel/1"}; strings.Join(attempts, " ") != strings.Join(want, " ") {
		t.Errorf("handler calls %v, want %v: one delivery, snoozed once by the runtime (no attempt spent)", attempts, want)
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
