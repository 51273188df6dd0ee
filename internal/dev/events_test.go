package dev_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	_ "github.com/tetherfn/tether/bindings/cron" // tether dev reads the components
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/internal/dev"
	"github.com/tetherfn/tether/internal/testkit/syncbuf"
	"github.com/tetherfn/tether/trigger"
)

const greetSource = `package greet

import (
	"context"
	"errors"

	"github.com/tetherfn/tether/functions"
)

type Outputs struct {
	Out functions.Output[string] ` + "`binding:\"out\"`" + `
}

//tether:function greet trigger=in
func Greet(ctx context.Context, name string, out Outputs) error {
	if name == "poison" {
		return functions.Permanent(errors.New("poisoned"))
	}
	return out.Out.Send(ctx, "hello "+name)
}
`

// TestDevEvents: a function process run by tether dev reports its delivery
// events to it; GET /v1.0/dev/events streams them (from the start of the
// ring with after=0) and --events prints them: a message handled and sent
// on, and a poison message dead-lettered.
func TestDevEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a module")
	}
	dir := module(t, map[string]string{
		"greet/greet.go":                   greetSource,
		"greet/components/in.yaml":         queue("in", "deadLetter", "greet-dead"),
		"greet/components/out.yaml":        queue("out"),
		"greet/components/greet-dead.yaml": queue("greet-dead"),
	})
	var logs syncbuf.Buffer
	addr := startDev(t, dir, &logs, func(o *dev.Options) { o.Events = true })
	send(t, addr, "in", `"ada"`)
	send(t, addr, "in", `"poison"`)

	resp, err := http.Get("http://" + addr + "/v1.0/dev/events?after=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan trigger.DeliveryEvent)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev trigger.DeliveryEvent
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Errorf("event %s: %v", data, err)
			}
			events <- ev
		}
	}()
	idOf := map[string]string{} // payload → message id
	var acked, sentOn, deadLettered bool
	deadline := time.After(2 * time.Minute)
	for !acked || !sentOn || !deadLettered {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if ev.Function != "greet" || ev.Binding != "in" || ev.PID == 0 || ev.Seq == 0 {
				t.Errorf("event %+v: want function greet, binding in, a pid and a seq", ev)
			}
			switch {
			case ev.Kind == trigger.EventReceived:
				idOf[ev.Payload] = ev.MessageID
			case ev.Kind == trigger.EventAttempt && ev.MessageID == idOf[`ada`]:
				acked = ev.Outcome == "acked"
			case ev.Kind == trigger.EventOutput && ev.MessageID == idOf[`ada`]:
				sentOn = ev.Output == "out" && ev.Payload == `hello ada`
			case ev.Kind == trigger.EventDeadLettered && ev.MessageID == idOf[`poison`]:
				deadLettered = ev.Output == "greet-dead" && strings.Contains(ev.Error, "poisoned")
			}
		case <-deadline:
			t.Fatalf("after 2 minutes: acked %v, sent on %v, dead-lettered %v; ids %v", acked, sentOn, deadLettered, idOf)
		}
	}
	// The sample of greet's input (a string), for tether send in --sample.
	sr, err := http.Get("http://" + addr + "/v1.0/dev/samples/in")
	if err != nil {
		t.Fatal(err)
	}
	var si dev.SampleInfo
	err = json.NewDecoder(sr.Body).Decode(&si)
	sr.Body.Close()
	if err != nil || si.Function != "greet" || si.Type != "string" || si.Example != "hello" || !strings.HasPrefix(si.ContentType, "text/plain") {
		t.Errorf("sample of in: %+v (%v)", si, err)
	}

	// --events prints the same as they come.
	for !strings.Contains(logs.String(), "dead-lettered greet from in id="+idOf["poison"]) {
		select {
		case <-deadline:
			t.Fatalf("--events printed no dead letter after 2 minutes:\n%s", logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

const nightlySource = `package nightly

import (
	"context"

	"github.com/tetherfn/tether/bindings/cron"
	"github.com/tetherfn/tether/functions"
)

type Outputs struct {
	Out functions.Output[string] ` + "`binding:\"nightly-out\"`" + `
}

//tether:function nightly trigger=tick
func Nightly(ctx context.Context, t cron.Tick, out Outputs) error {
	return out.Out.Send(ctx, "report of "+t.Schedule)
}
`

// TestDevFiresCron: tether send <cron-binding> (the operation fire, on the
// dev API) fires the cron trigger of a function run by tether dev now, far
// from its schedule.
func TestDevFiresCron(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a module")
	}
	dir := module(t, map[string]string{
		"nightly/nightly.go": nightlySource,
		"nightly/components/tick.yaml": `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: tick
spec:
  type: bindings.cron
  version: v1
  metadata:
  - name: schedule
    value: "@yearly"
`,
		"nightly/components/out.yaml": queue("nightly-out"),
	})
	var logs syncbuf.Buffer
	addr := startDev(t, dir, &logs)
	out, _, err := bindings.OpenInput(t.Context(), bindings.Config{Name: "out", Type: memory.TypeName, Metadata: map[string]string{"queue": "nightly-out"}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()

	resp, err := http.Post("http://"+addr+"/v1.0/bindings/tick", "application/json", strings.NewReader(`{"operation":"fire"}`))
	if err != nil {
		t.Fatal(err)
	}
	var answer struct{ ID string }
	err = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || answer.ID == "" {
		t.Fatalf("fire: %s, %v, id %q", resp.Status, err, answer.ID)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	msgs, err := out.Receive(ctx, 1)
	if err != nil {
		t.Fatalf("nothing on nightly-out after the fire: %v", err)
	}
	if got := string(msgs[0].Data); got != "report of @yearly" {
		t.Errorf("nightly sent %q", got)
	}
}
