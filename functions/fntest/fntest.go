// Package fntest tests Tether functions without a broker.
//
// A Harness runs one function's handler as the runtime does — decode, call,
// send the result to the return binding, then the delivery policy (retry,
// dead letter, panic recovery, timeout) — synchronously, on in-memory
// outputs that record what the function sent. Each Send reports the outcome
// the runtime would act on:
//
//	func TestProcessOrder(t *testing.T) {
//		h := fntest.New(t, orders.ProcessOrderFunction())
//		out := h.Send(orders.Order{ID: "o-1"})
//		if out.Action != trigger.Acked {
//			t.Fatal(out)
//		}
//		sent := h.Output("shipped").Sent() // in order, with metadata
//		...
//	}
//
// Every output component the function binds gets a Recorder, unless the test
// opens a real binding for it (Open) or makes it fail (Fail). Start runs
// whole functions in-process on a trigger.Runtime, for end-to-end tests on
// memory bindings.
package fntest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/internal/suggest"
	"github.com/tetherfn/tether/trigger"
)

// DeadLetterComponent is the name of the recording dead-letter output a
// Harness uses unless NoDeadLetter is given.
const DeadLetterComponent = "fntest-deadletter"

// Option configures a Harness.
type Option func(*Harness)

// DeliveryPolicy sets the trigger's delivery policy (maxAttempts, backoff,
// handlerTimeout...). The default is bindings.DefaultDeliveryPolicy without
// jitter, so that retry delays are exact.
func DeliveryPolicy(d bindings.DeliveryPolicy) Option {
	return func(h *Harness) { h.policy = d }
}

// Delivery sets the trigger's delivery policy.
//
// Deprecated: use DeliveryPolicy; functions.Delivery is the message being
// handled, not the settings.
func Delivery(d bindings.DeliveryPolicy) Option { return DeliveryPolicy(d) }

// TriggerType sets the binding type of the trigger, which events see in
// their type attribute. Default: bindings.memory.
func TriggerType(name string) Option {
	return func(h *Harness) { h.triggerType = name }
}

// Fail makes every call to the output component fail with err: the
// function's Bind succeeds, its sends fail.
func Fail(component string, err error) Option {
	return func(h *Harness) {
		r := h.recorder(component)
		r.FailWith(err)
	}
}

// Open binds the output component to a real binding, opened with
// bindings.OpenOutput (cfg.Name defaults to component), for functions whose
// Outputs hold a binding's own typed client (*nats.Client...), which only
// binds to its own binding type. The harness closes it when the test ends.
func Open(component string, cfg bindings.Config) Option {
	return func(h *Harness) {
		if cfg.Name == "" {
			cfg.Name = component
		}
		out, typ, err := bindings.OpenOutput(context.Background(), cfg)
		if err != nil {
			h.t.Fatalf("fntest: open output %q: %v", component, err)
		}
		h.t.Cleanup(func() { out.Close() })
		h.opened[component] = bindings.OutputBinding{Name: component, Type: typ, Output: out}
	}
}

// NoDeadLetter runs the function as on a trigger without a dead-letter
// binding: messages that fail for good end Exhausted (the broker's own
// dead letter, or kept by it) instead of DeadLettered.
func NoDeadLetter() Option {
	return func(h *Harness) { h.noDeadLetter = true }
}

// Harness runs one function's handler. It is safe for concurrent Sends.
type Harness struct {
	t            testing.TB
	fn           trigger.Function
	policy       bindings.DeliveryPolicy
	triggerType  string
	noDeadLetter bool
	logger       *slog.Logger
	handler      trigger.Handler

	mu        sync.Mutex
	recorders map[string]*Recorder
	opened    map[string]bindings.OutputBinding
	bound     []string // components the function's Bind asked for
	seq       int
}

// New binds fn's outputs (its generated Bind, which also loads settings
// from the environment: use t.Setenv before) and returns a Harness for it.
// A Bind error fails the test.
func New(t testing.TB, fn trigger.Function, opts ...Option) *Harness {
	t.Helper()
	policy := bindings.DefaultDeliveryPolicy()
	policy.Jitter = 0
	h := &Harness{
		t: t, fn: fn, policy: policy, triggerType: "bindings.memory",
		recorders: map[string]*Recorder{}, opened: map[string]bindings.OutputBinding{},
		logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(h)
	}
	if err := h.policy.Validate(); err != nil {
		t.Fatalf("fntest: delivery policy: %v", err)
	}
	if (fn.Handler == nil) == (fn.BatchHandler == nil) {
		t.Fatalf("fntest: function %q must have exactly one of Handler and BatchHandler", fn.Name)
	}
	if fn.BatchHandler != nil && (len(fn.Middleware) > 0 || fn.Return != "") {
		// As the runtime refuses them: Middleware wraps a Handler, and a
		// batch handler has no result to return.
		t.Fatalf("fntest: batch function %q cannot have Middleware or a Return binding", fn.Name)
	}
	if fn.Bind != nil {
		if err := fn.Bind(context.Background(), trigger.NewOutputs(fn.Name, h.output)); err != nil {
			t.Fatalf("fntest: bind outputs of %q: %v", fn.Name, err)
		}
	}
	// Exactly the runtime's chain, but for metrics.
	var ret *bindings.OutputBinding
	if fn.Return != "" {
		ob, err := h.output(fn.Return)
		if err != nil {
			t.Fatalf("fntest: return binding: %v", err)
		}
		ret = &ob
	}
	var dl bindings.Output
	if !h.noDeadLetter {
		dl = h.recorder(DeadLetterComponent).Binding().Output
	}
	inner := fn.Handler
	if fn.BatchHandler != nil {
		// Each message of a batch is settled through the chain on its own,
		// with the error the batch call gave it (see SendBatchMessages).
		inner = settleItem
	}
	hd := trigger.Chain(inner, trigger.ChainOptions{
		Function: fn.Name, Binding: fn.Trigger, Policy: h.policy, Return: ret, DeadLetter: dl,
		Middleware: fn.Middleware,
	})
	h.handler = hd
	return h
}

// output finds or makes the output binding of a component.
func (h *Harness) output(component string) (bindings.OutputBinding, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Contains(h.bound, component) {
		h.bound = append(h.bound, component)
	}
	if ob, ok := h.opened[component]; ok {
		return ob, nil
	}
	return h.recorderLocked(component).Binding(), nil
}

func (h *Harness) recorder(component string) *Recorder {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.recorderLocked(component)
}

func (h *Harness) recorderLocked(component string) *Recorder {
	r, ok := h.recorders[component]
	if !ok {
		r = NewRecorder(component)
		h.recorders[component] = r
	}
	return r
}

// Output returns the Recorder of an output component (the return binding
// included). Asking for a component the function never bound fails the
// test: a misspelt name must not pass as "nothing sent".
func (h *Harness) Output(component string) *Recorder {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.recorders[component]
	if !ok || !(slices.Contains(h.bound, component) || component == DeadLetterComponent) {
		known := slices.Sorted(maps.Keys(h.recorders))
		h.t.Fatalf("fntest: function %q has no recorded output %q%s (recorded: %s)", h.fn.Name, component, suggest.Hint(component, known), strings.Join(known, ", "))
	}
	return r
}

// MessageOption adjusts the message Send delivers.
type MessageOption func(*bindings.Message)

// Attempt delivers the message as its n-th attempt (DeliveryCount n): on
// the last attempt (the policy's maxAttempts), a failure is final.
func Attempt(n int) MessageOption { return func(m *bindings.Message) { m.DeliveryCount = n } }

// Metadata sets the message's metadata (broker headers or attributes).
func Metadata(md map[string]string) MessageOption {
	return func(m *bindings.Message) { m.Metadata = maps.Clone(md) }
}

// ContentType sets the message's content type.
func ContentType(ct string) MessageOption { return func(m *bindings.Message) { m.ContentType = ct } }

// ID sets the message's id (default: msg-1, msg-2... per Harness).
func ID(id string) MessageOption { return func(m *bindings.Message) { m.ID = id } }

// Key sets the message's ordering key.
func Key(key string) MessageOption { return func(m *bindings.Message) { m.Key = key } }

// Send delivers payload as one message and returns the outcome of that
// attempt. []byte and string payloads are sent as they are; anything else
// is encoded as JSON, as functions.Output would send it. A batch function
// gets it as a batch of one.
func (h *Harness) Send(payload any, opts ...MessageOption) Outcome {
	h.t.Helper()
	return h.SendMessage(h.Message(payload, opts...))
}

// SendEvent delivers a CloudEvent as a message: its id, data, content type,
// time, and extensions (as metadata). Handlers taking an event see the
// event's data and extensions, with the trigger's source and type.
func (h *Harness) SendEvent(ev event.Event, opts ...MessageOption) Outcome {
	h.t.Helper()
	m := &bindings.Message{ID: ev.ID(), Data: ev.Data(), ContentType: ev.DataContentType(), Time: ev.Time()}
	if ext := ev.Extensions(); len(ext) > 0 {
		m.Metadata = make(map[string]string, len(ext))
		for k, v := range ext {
			if k == functions.AttemptExtension {
				continue
			}
			m.Metadata[k] = fmt.Sprint(v)
		}
	}
	for _, o := range opts {
		o(m)
	}
	return h.SendMessage(m)
}

// SendMessage delivers m as it is (an empty ID and a DeliveryCount of 0
// are filled in) and returns the outcome of that attempt. A batch
// function gets it as a batch of one.
func (h *Harness) SendMessage(m *bindings.Message) Outcome {
	h.t.Helper()
	if h.fn.BatchHandler != nil {
		return h.SendBatchMessages(m)[0]
	}
	h.fill(m)
	res, err := h.handler(h.context(context.Background(), m), m)
	return h.outcome(m, res, err)
}

// fill gives m an ID, a DeliveryCount and a Time where it has none.
func (h *Harness) fill(m *bindings.Message) {
	h.mu.Lock()
	h.seq++
	if m.ID == "" {
		m.ID = fmt.Sprintf("msg-%d", h.seq)
	}
	h.mu.Unlock()
	if m.DeliveryCount < 1 {
		m.DeliveryCount = 1
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
}

// context returns parent carrying the delivery of m, as the runtime's
// handler context does; m nil for the delivery of a batch call.
func (h *Harness) context(parent context.Context, m *bindings.Message) context.Context {
	d := &functions.Delivery{
		Function: h.fn.Name, Binding: h.fn.Trigger, BindingType: h.triggerType,
		Logger: h.logger.With("function", h.fn.Name, "binding", h.fn.Trigger),
	}
	if m != nil {
		d.Message, d.Attempt = m, m.DeliveryCount
	}
	return functions.NewContext(parent, d)
}

// outcome is the Outcome of m's attempt, which the chain ended with res
// and err.
func (h *Harness) outcome(m *bindings.Message, res trigger.Result, err error) Outcome {
	h.t.Helper()
	out := Outcome{Decision: trigger.Decide(err), Result: res}
	if out.Action == trigger.DeadLettered {
		// The latest envelope of this message: Sends may run concurrently.
		sent := h.recorder(DeadLetterComponent).Sent()
		for i := len(sent) - 1; i >= 0 && out.DeadLetter == nil; i-- {
			var env functions.DeadLetter
			if err := json.Unmarshal(sent[i].Data, &env); err != nil {
				h.t.Fatalf("fntest: dead-letter envelope: %v", err)
			}
			if env.MessageID == m.ID {
				out.DeadLetter = &env
			}
		}
	}
	return out
}

// Outcome is what the runtime would do after one attempt.
type Outcome struct {
	// Decision holds the Action (Acked, RetryLater, DeadLettered, Exhausted),
	// the Delay before a retry, and the attempt's error.
	trigger.Decision
	// Result is what the handler produced: the body sent to the return
	// binding, or the reply to a request/reply trigger.
	Result trigger.Result
	// DeadLetter is the envelope sent to the dead-letter binding, when the
	// Action is DeadLettered.
	DeadLetter *functions.DeadLetter
}

// Acked reports whether the message was handled and acked.
func (o Outcome) Acked() bool { return o.Action == trigger.Acked }

func (o Outcome) String() string {
	switch o.Action {
	case trigger.Acked:
		return "acked"
	case trigger.RetryLater:
		return fmt.Sprintf("retry in %s: %v", o.Delay, o.Err)
	}
	return fmt.Sprintf("%s: %v", o.Action, o.Err)
}
