package cron_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/cron"
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

// TestFireOnDemand: the bindings API's operation fire on a cron trigger
// (tether send <cron-binding>) delivers a tick now, through the trigger,
// and answers its id; another operation on it, or fire on an output, is a
// 400 that says what works.
func TestFireOnDemand(t *testing.T) {
	ctx := testContext(t)
	set := bindingtest.LoadComponents(t,
		bindingtest.ComponentYAML("yearly", "bindings.cron", map[string]string{"schedule": "@yearly"}),
		bindingtest.ComponentYAML("out", "bindings.memory", map[string]string{"queue": bindingtest.Unique("cron-out")}))
	handled := make(chan *bindings.Message, 1)
	rt, err := trigger.New(trigger.Options{Components: set, Functions: []trigger.Function{{Name: "yearly", Trigger: "yearly",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			handled <- m
			return trigger.Result{}, nil
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	invoke := func(binding, body string) (int, string) {
		req := httptest.NewRequest(http.MethodPost, "/v1.0/bindings/"+binding, strings.NewReader(body))
		rec := httptest.NewRecorder()
		rt.Handler().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}

	code, body := invoke("yearly", `{"operation":"fire"}`)
	var answer struct{ ID string }
	if err := json.Unmarshal([]byte(body), &answer); code != http.StatusOK || err != nil || answer.ID == "" {
		t.Fatalf("fire: %d %s", code, body)
	}
	select {
	case m := <-handled:
		var tick cron.Tick
		if err := json.Unmarshal(m.Data, &tick); err != nil || m.ID != answer.ID || tick.Schedule != "@yearly" {
			t.Errorf("handled %s %s (%v), want the tick %s of @yearly", m.ID, m.Data, err, answer.ID)
		}
	case <-ctx.Done():
		t.Fatal("the tick fired on demand was not handled")
	}
	if code, body := invoke("yearly", `{"operation":"create","data":"x"}`); code != http.StatusBadRequest || !strings.Contains(body, `its only operation here is \"fire\"`) {
		t.Errorf("create on the cron trigger: %d %s", code, body)
	}
	if code, body := invoke("out", `{"operation":"fire"}`); code != http.StatusBadRequest || !strings.Contains(body, `no operation \"fire\"`) {
		t.Errorf("fire on an output: %d %s", code, body)
	}
}
