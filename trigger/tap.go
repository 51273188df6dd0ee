package trigger

import (
	"context"
	"encoding/base64"
	"maps"
	"time"
	"unicode/utf8"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// Observer sees what happens to every message of a runtime (Options.Observer):
// each attempt as it starts and as it ends, every output sent, every dead
// letter. The runtime calls it only when it is set: without one, Chain adds no
// middleware and the outputs are not wrapped, so a runtime pays nothing for
// it. tether dev sets one in each function process it runs (the
// TETHER_DEV_EVENTS setting) and serves the events on its API.
//
// Observe is called on the delivery path, from the workers and from whatever
// invokes an output: it must not block or keep the caller waiting (hand the
// event off and return). The event is the observer's to keep.
type Observer interface {
	Observe(DeliveryEvent)
}

// EventKind says what a DeliveryEvent records.
type EventKind string

const (
	// EventReceived: an attempt starts; the message reached a worker (once
	// per attempt, so a retried message is received again). It carries the
	// payload snippet and the metadata.
	EventReceived EventKind = "received"
	// EventAttempt: an attempt ended, with its Outcome (an Action's name),
	// its duration and, unless acked, its error.
	EventAttempt EventKind = "attempt"
	// EventOutput: an output binding was invoked (by the handler, the return
	// binding, a dead letter or the bindings API), with its size and, on
	// failure, its error.
	EventOutput EventKind = "output"
	// EventDeadLettered: the message failed for good and is now in Output,
	// the trigger's dead-letter binding.
	EventDeadLettered EventKind = "dead-lettered"
)

// PayloadSnippetSize bounds the payload a DeliveryEvent carries.
const PayloadSnippetSize = 1024

// DeliveryEvent is one thing that happened to a message, as an Observer sees
// it. Its JSON form is what tether dev serves on GET /v1.0/dev/events (see
// docs/dev.md); fields that do not apply to a kind are left out.
type DeliveryEvent struct {
	// Seq numbers the events tether dev recorded, from 1; 0 (left out) until
	// then.
	Seq uint64 `json:"seq,omitempty"`
	// Time is when the event was recorded: for attempts and outputs, their
	// end.
	Time time.Time `json:"time"`
	Kind EventKind `json:"kind"`
	// Function and Binding (its trigger) are the delivery's; empty for an
	// output invoked outside a handler (the bindings API).
	Function  string `json:"function,omitempty"`
	Binding   string `json:"binding,omitempty"`
	MessageID string `json:"messageId,omitempty"`
	// Attempt is 1 on the first try.
	Attempt int `json:"attempt,omitempty"`
	// Outcome of an attempt: acked, retry, dead-lettered, exhausted (failed
	// for good, no dead-letter binding: left to the broker) or abandoned
	// (cut short by shutdown, given back); of an output: ok or failed.
	Outcome string `json:"outcome,omitempty"`
	// DurationMs is how long the attempt or the output call took.
	DurationMs float64 `json:"durationMs,omitempty"`
	// RetryInMs is when a retried message comes back.
	RetryInMs float64 `json:"retryInMs,omitempty"`
	// Error is the attempt's or output's error, secrets hidden.
	Error string `json:"error,omitempty"`
	// Output is the binding sent to (output, dead-lettered).
	Output    string `json:"output,omitempty"`
	Operation string `json:"operation,omitempty"`
	// Size is the payload's length in bytes (received, output).
	Size        int    `json:"size,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	// Payload is the first PayloadSnippetSize bytes of the payload: as text
	// when they are UTF-8, otherwise base64 (PayloadEncoding "base64").
	// PayloadTruncated says there is more.
	Payload          string `json:"payload,omitempty"`
	PayloadEncoding  string `json:"payloadEncoding,omitempty"`
	PayloadTruncated bool   `json:"payloadTruncated,omitempty"`
	// Metadata is the message's (received) or the output request's,
	// credentials left out and secrets hidden.
	Metadata map[string]string `json:"metadata,omitempty"`
	// PID is the function process's.
	PID int `json:"pid,omitempty"`
}

// setPayload records the snippet of data.
func (e *DeliveryEvent) setPayload(data []byte) {
	e.Size = len(data)
	if len(data) > PayloadSnippetSize {
		data, e.PayloadTruncated = data[:PayloadSnippetSize], true
		// Do not cut a rune in two.
		for i := 0; i < utf8.UTFMax && len(data) > 0 && !utf8.Valid(data); i++ {
			data = data[:len(data)-1]
		}
	}
	if utf8.Valid(data) {
		e.Payload = string(data)
		return
	}
	e.Payload, e.PayloadEncoding = base64.StdEncoding.EncodeToString(data), "base64"
}

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// observe is the outermost middleware when the runtime has an Observer: it
// reports each attempt's start and end, and the dead letter it ended in.
func observe(o Observer, function, binding, deadLetter string, filter envelopeFilter) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *bindings.Message) (Result, error) {
			attempt := attemptOf(m) // as the delivery's, without building it (handlerContext.delivery)
			start := time.Now()
			ev := DeliveryEvent{Time: start, Kind: EventReceived, Function: function, Binding: binding,
				MessageID: m.ID, Attempt: attempt, ContentType: m.ContentType, Metadata: filter.copyOf(m.ReadMetadata())}
			ev.setPayload(m.Data)
			o.Observe(ev)

			res, err := next(ctx, m)

			end := time.Now()
			dec := Decide(err)
			ev = DeliveryEvent{Time: end, Kind: EventAttempt, Function: function, Binding: binding,
				MessageID: m.ID, Attempt: attempt, Outcome: dec.Action.String(), DurationMs: milliseconds(end.Sub(start))}
			if dec.Err != nil {
				ev.Error = filter.text(dec.Err.Error())
			}
			if dec.Action == RetryLater {
				ev.RetryInMs = milliseconds(dec.Delay)
			}
			o.Observe(ev)
			if dec.Action == DeadLettered {
				o.Observe(DeliveryEvent{Time: end, Kind: EventDeadLettered, Function: function, Binding: binding,
					MessageID: m.ID, Attempt: attempt, Output: deadLetter, Error: ev.Error})
			}
			return res, err
		}
	}
}

// copyOf is metadata for an event: its own map, whatever the filter does.
func (f envelopeFilter) copyOf(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	if f.redact == nil && len(f.drop) == 0 {
		return maps.Clone(md) // metadata would return md itself
	}
	return f.metadata(md)
}

// observedOutput reports every Invoke of an output binding to the runtime's
// Observer. Unwrap keeps typed clients' access to the driver
// (bindings.Driver).
type observedOutput struct {
	bindings.Output
	name   string
	o      Observer
	filter envelopeFilter
}

func (w *observedOutput) Unwrap() bindings.Output { return w.Output }

func (w *observedOutput) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	start := time.Now()
	resp, err := w.Output.Invoke(ctx, req)
	end := time.Now()
	ev := DeliveryEvent{Time: end, Kind: EventOutput, Output: w.name, Operation: string(req.Operation),
		ContentType: req.ContentType, Metadata: w.filter.copyOf(req.Metadata), DurationMs: milliseconds(end.Sub(start)), Outcome: "ok"}
	ev.setPayload(req.Data)
	if err != nil {
		ev.Outcome, ev.Error = "failed", w.filter.text(err.Error())
	}
	if d := functions.FromContext(ctx); d != nil {
		ev.Function, ev.Binding, ev.Attempt = d.Function, d.Binding, d.Attempt
		if d.Message != nil {
			ev.MessageID = d.Message.ID
		}
	}
	w.o.Observe(ev)
	return resp, err
}
