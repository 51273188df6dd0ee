package trigger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

// eventLog is an Observer that hands the events to the test.
type eventLog chan trigger.DeliveryEvent

func (l eventLog) Observe(ev trigger.DeliveryEvent) { l <- ev }

// TestObserverSeesEveryStep: a message handled at once, and one that fails,
// is retried and dead-lettered: the observer sees each attempt's start and
// end with its outcome, every output sent on the message's behalf, and the
// dead letter, in order.
func TestObserverSeesEveryStep(t *testing.T) {
	in, out, dead := unique(t, "in"), unique(t, "out"), unique(t, "dead")
	set := loadComponents(t,
		memoryComponent("in", in, map[string]string{"maxAttempts": "2", "initialInterval": "1ms", "maxInterval": "2ms", "deadLetter": "dead"}),
		memoryComponent("out", out, nil), memoryComponent("dead", dead, nil))
	log := make(eventLog, 100)
	startWith(t, trigger.Options{Components: set, Observer: log, Functions: []trigger.Function{{
		Name: "greet", Trigger: "in", Return: "out",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			if string(m.Data) == "bad" {
				return trigger.Result{}, errors.New("boom")
			}
			return trigger.Result{Data: []byte("hello " + string(m.Data)), ContentType: "text/plain"}, nil
		},
	}}})
	memory.Publish(in, &bindings.Message{ID: "good-1", Data: []byte("ada"), ContentType: "text/plain", Metadata: map[string]string{"k": "v"}},
		&bindings.Message{ID: "bad-1", Data: []byte("bad"), ContentType: "text/plain"})

	// The two messages' events interleave; each one's come in order.
	byID := map[string][]trigger.DeliveryEvent{}
	for len(byID["good-1"]) < 3 || len(byID["bad-1"]) < 6 {
		select {
		case ev := <-log:
			byID[ev.MessageID] = append(byID[ev.MessageID], ev)
		case <-time.After(time.Minute):
			t.Fatalf("after a minute, the events are %+v", byID)
		}
	}
	type step struct {
		kind           trigger.EventKind
		attempt        int
		outcome, where string // where: the output sent to
	}
	want := map[string][]step{
		"good-1": {
			{trigger.EventReceived, 1, "", ""},
			{trigger.EventOutput, 1, "ok", "out"},
			{trigger.EventAttempt, 1, "acked", ""},
		},
		"bad-1": {
			{trigger.EventReceived, 1, "", ""},
			{trigger.EventAttempt, 1, "retry", ""},
			{trigger.EventReceived, 2, "", ""},
			{trigger.EventOutput, 2, "ok", "dead"},
			{trigger.EventAttempt, 2, "dead-lettered", ""},
			{trigger.EventDeadLettered, 2, "", "dead"},
		},
	}
	for id, steps := range want {
		evs := byID[id]
		if len(evs) != len(steps) {
			t.Errorf("message %s: %d events, want %d: %+v", id, len(evs), len(steps), evs)
			continue
		}
		for i, w := range steps {
			ev := evs[i]
			if got := (step{ev.Kind, ev.Attempt, ev.Outcome, ev.Output}); got != w {
				t.Errorf("message %s, event %d: got %+v, want %+v (%+v)", id, i+1, got, w, ev)
			}
			if ev.Function != "greet" || ev.Binding != "in" || ev.Time.IsZero() {
				t.Errorf("message %s, event %d: function %q binding %q time %v, want greet, in and a time", id, i+1, ev.Function, ev.Binding, ev.Time)
			}
			switch ev.Kind {
			case trigger.EventReceived:
				if ev.Size != 3 || ev.ContentType != "text/plain" {
					t.Errorf("received %s: size %d, content type %q", id, ev.Size, ev.ContentType)
				}
				if id == "good-1" && (ev.Payload != "ada" || ev.Metadata["k"] != "v") {
					t.Errorf("received %s: payload %q, metadata %v; want ada and k=v", id, ev.Payload, ev.Metadata)
				}
			case trigger.EventAttempt:
				if ev.DurationMs <= 0 {
					t.Errorf("attempt of %s: duration %v", id, ev.DurationMs)
				}
				if (ev.Outcome == "acked") != (ev.Error == "") {
					t.Errorf("attempt of %s: outcome %s, error %q", id, ev.Outcome, ev.Error)
				}
				if ev.Outcome == "retry" && ev.RetryInMs <= 0 {
					t.Errorf("retried attempt of %s: retryInMs %v", id, ev.RetryInMs)
				}
			case trigger.EventOutput:
				if id == "good-1" && (ev.Payload != "hello ada" || ev.Size != 9 || ev.Operation != "create") {
					t.Errorf("output of %s: %+v", id, ev)
				}
			case trigger.EventDeadLettered:
				if ev.Error != "boom" {
					t.Errorf("dead letter of %s: error %q, want boom", id, ev.Error)
				}
			}
		}
	}
}

// TestObserverPayloadSnippet: a long payload is cut at PayloadSnippetSize
// (never inside a rune) and marked truncated; bytes that are not UTF-8 come
// as base64.
func TestObserverPayloadSnippet(t *testing.T) {
	in := unique(t, "in")
	set := loadComponents(t, memoryComponent("in", in, nil))
	log := make(eventLog, 100)
	startWith(t, trigger.Options{Components: set, Observer: log, Functions: []trigger.Function{{Name: "f", Trigger: "in", Handler: ack}}})
	long := []byte("a")
	for len(long) < 2*trigger.PayloadSnippetSize {
		long = append(long, "é"...) // two bytes: the cut at 1024 falls inside one
	}
	memory.Publish(in, &bindings.Message{ID: "long", Data: long}, &bindings.Message{ID: "bin", Data: []byte{0xff, 0xfe, 0}})
	got := map[string]trigger.DeliveryEvent{}
	for len(got) < 2 {
		select {
		case ev := <-log:
			if ev.Kind == trigger.EventReceived {
				got[ev.MessageID] = ev
			}
		case <-time.After(time.Minute):
			t.Fatalf("after a minute, received only %v", got)
		}
	}
	if ev := got["long"]; !ev.PayloadTruncated || ev.Size != len(long) || ev.PayloadEncoding != "" ||
		len(ev.Payload) != trigger.PayloadSnippetSize-1 || ev.Payload != string(long[:trigger.PayloadSnippetSize-1]) {
		t.Errorf("long payload: truncated %v, size %d, encoding %q, snippet of %d bytes", ev.PayloadTruncated, ev.Size, ev.PayloadEncoding, len(ev.Payload))
	}
	if ev := got["bin"]; ev.PayloadEncoding != "base64" || ev.Payload != "//4A" || ev.PayloadTruncated {
		t.Errorf("binary payload: %q encoded %q", ev.Payload, ev.PayloadEncoding)
	}
}

// lazyHandle builds a message's metadata on first read, as the Kafka and
// RabbitMQ drivers do.
type lazyHandle map[string]string

func (h lazyHandle) Metadata() map[string]string { return h }

// TestObserverReadsLazyMetadata: a driver that builds metadata only when
// something reads it (bindings.LazyMetadata) still shows it in the received
// event; the event read the Metadata field, which such drivers leave nil.
func TestObserverReadsLazyMetadata(t *testing.T) {
	log := make(eventLog, 10)
	h := trigger.Chain(func(context.Context, *bindings.Message) (trigger.Result, error) { return trigger.Result{}, nil },
		trigger.ChainOptions{Function: "f", Binding: "in", Policy: bindings.DefaultDeliveryPolicy(), Observer: log})
	m := &bindings.Message{ID: "lazy-1", Data: []byte("x"), DeliveryCount: 1, Handle: lazyHandle{"partition": "3"}}
	if _, err := h(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	for ev := range log {
		if ev.Kind == trigger.EventReceived {
			if ev.Metadata["partition"] != "3" {
				t.Fatalf("received event's metadata = %v, want the lazily built partition=3", ev.Metadata)
			}
			return
		}
	}
}
