package cron_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	_ "github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/trigger"
)

// TestRetriesAndDeadLetterThroughTheRuntime: a tick whose handler keeps
// failing is retried by the trigger's policy (through the input's delayed
// nack) and then dead-lettered; the next tick runs.
func TestRetriesAndDeadLetterThroughTheRuntime(t *testing.T) {
	ctx := testContext(t)
	dead := bindingtest.Unique("cron-dead")
	set := bindingtest.LoadComponents(t,
		bindingtest.ComponentYAML("tick", "bindings.cron", map[string]string{
			"schedule": "@every 1s", "maxAttempts": "3", "initialInterval": "100ms", "maxInterval": "200ms", "deadLetter": "dead",
		}),
		bindingtest.ComponentYAML("dead", "bindings.memory", map[string]string{"queue": dead}))

	var mu sync.Mutex
	attempts := map[string][]int{} // tick -> the attempts seen
	var failing string
	succeeded := make(chan string, 10)
	rt, err := trigger.New(trigger.Options{Components: set, Functions: []trigger.Function{{Name: "tick", Trigger: "tick",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			d := functions.FromContext(ctx)
			mu.Lock()
			defer mu.Unlock()
			attempts[m.ID] = append(attempts[m.ID], d.Attempt)
			if failing == "" {
				failing = m.ID
			}
			if m.ID == failing {
				return trigger.Result{}, errors.New("the report server is down")
			}
			succeeded <- m.ID
			return trigger.Result{}, nil
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())

	deadIn, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "read-dead", Type: "bindings.memory", Metadata: map[string]string{"queue": dead}})
	if err != nil {
		t.Fatal(err)
	}
	defer deadIn.Close()
	msgs, err := deadIn.Receive(ctx, 1)
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	var env functions.DeadLetter
	if err := json.Unmarshal(msgs[0].Data, &env); err != nil {
		t.Fatal(err)
	}
	var next string
	select {
	case next = <-succeeded:
	case <-ctx.Done():
		t.Fatal("no tick succeeded after the dead letter")
	}
	mu.Lock()
	defer mu.Unlock()
	if env.MessageID != failing || env.Attempts != 3 {
		t.Errorf("dead letter for %s after %d attempts; want %s after 3", env.MessageID, env.Attempts, failing)
	}
	if got := attempts[failing]; fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("the failing tick was tried as attempts %v, want [1 2 3]", got)
	}
	if next <= failing {
		t.Errorf("tick %s succeeded after %s was dead-lettered", next, failing)
	}
}
