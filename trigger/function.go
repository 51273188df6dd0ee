package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/tetherfn/tether/bindings"
)

// Handler handles one message. A nil error acks the message; any other error
// is a failed attempt that the delivery policy retries or dead-letters. The
// Result goes to the function's return binding or, for request/reply triggers
// (webhooks), back to the caller.
type Handler func(ctx context.Context, m *bindings.Message) (Result, error)

// BatchHandler handles many messages at once: what the generator emits for a
// handler of a batch shape (func(ctx, []T) error, func(ctx,
// *functions.Batch[T]) error). It returns one error per message, in order:
// nil acks the message, any other error is that message's failed attempt,
// retried, snoozed or dead-lettered on its own exactly as a Handler's error
// would be. A nil slice means every message succeeded. The runtime hands it
// at most the trigger's maxBatchSize messages, once that many arrived or
// maxBatchWait passed.
//
// Its ctx carries a functions.Delivery for the whole batch (Function,
// Binding, BindingType, Logger; Attempt is the highest attempt among msgs,
// Message is nil); an item's own attempt is max(msgs[i].DeliveryCount, 1).
// The trigger's handlerTimeout bounds the call. A panic, or any error once
// the timeout has expired, fails every message of the batch; so does a
// slice of the wrong length. On an ordered trigger, the messages after a
// failed one with the same Key are held back whatever their error (the
// handler may stop handling a key at its first failure): they come back,
// in order and without an attempt counted, after it.
type BatchHandler func(ctx context.Context, msgs []*bindings.Message) []error

// Result is what a handler produced. The zero Result is "nothing".
type Result struct {
	Data        []byte
	ContentType string
	Metadata    map[string]string
}

// Middleware wraps a Handler with cross-cutting behaviour. The delivery being
// handled is in ctx (functions.FromContext).
type Middleware func(Handler) Handler

// Function is a registered function: what the code generator emits for each
// //tether:function directive, and what a hand-written main may build.
type Function struct {
	// Name is a DNS-1123 label, e.g. "process-order".
	Name string
	// Trigger names the input component that triggers the function.
	Trigger string
	// Return optionally names the output component the Result is sent to
	// (operation create).
	Return string
	// Handler decodes the message, calls the user's function and encodes its
	// result. Exactly one of Handler and BatchHandler is set.
	Handler Handler
	// BatchHandler, for a function that takes its messages in batches,
	// decodes them and calls the user's function once per batch. Each
	// message is then settled on its own through the delivery chain. A
	// batch function has no Return and no Middleware.
	BatchHandler BatchHandler
	// Sample describes the handler's input (written by the generator);
	// /v1.0/status shows it, for tether send --sample and the dev
	// dashboard's Send form. Nil when unknown.
	Sample *Sample
	// Bind is called once at start-up, before any message is received, to
	// bind the function's output clients (and load its settings). An error
	// stops start-up.
	Bind func(ctx context.Context, o *Outputs) error
	// Middleware wraps Handler inside the runtime's delivery chain, the
	// first outermost (as Watermill's AddMiddleware): within the handler
	// timeout and panic recovery, so that its errors are retried and
	// dead-lettered like the handler's, and a functions.RetryAfter it
	// returns snoozes the message without spending an attempt. See
	// ChainOptions.Middleware. A batch function (BatchHandler) takes none:
	// New refuses it, since a Middleware wraps one message's Handler.
	Middleware []Middleware
}

// Sample is a function's input described: its Go type, a JSON Schema
// (draft 2020-12) of the payload as encoding/json reads it, and an example
// payload, sent with ContentType.
type Sample struct {
	Type        string          `json:"type"`
	ContentType string          `json:"contentType"`
	Schema      json.RawMessage `json:"schema"`
	Example     string          `json:"example"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func (f *Function) validate() error {
	switch {
	case !nameRE.MatchString(f.Name):
		return fmt.Errorf("function name %q: want a DNS-1123 label (lower-case letters, digits and '-', at most 63)", f.Name)
	case f.Trigger == "":
		return fmt.Errorf("function %q: no trigger component", f.Name)
	case f.Handler == nil && f.BatchHandler == nil:
		return fmt.Errorf("function %q: nil handler", f.Name)
	case f.Handler != nil && f.BatchHandler != nil:
		return fmt.Errorf("function %q: both Handler and BatchHandler are set; a function has one", f.Name)
	case f.BatchHandler != nil && len(f.Middleware) > 0:
		return fmt.Errorf("function %q: Middleware wraps a Handler, and a batch function has none: wrap the BatchHandler itself (the runtime's delivery chain still runs per item)", f.Name)
	case f.BatchHandler != nil && f.Return != "":
		return fmt.Errorf("function %q: a batch function returns no result, so it cannot have a return binding (%q): send to an output from the handler", f.Name, f.Return)
	}
	return nil
}

// Outputs gives a function's Bind what it fills the handler's Outputs struct
// with: the opened output bindings (Bind, Output) and settings from the
// environment (LoadSettings). It is named for that struct, which holds both.
type Outputs struct {
	function string
	rt       *Runtime
	lookup   func(component string) (bindings.OutputBinding, error) // set by NewOutputs instead of rt
}

// NewOutputs returns the Outputs a function's Bind sees, finding output
// bindings by component name with lookup, whose errors ("no output
// component named ...") Bind wraps with the function and the field. The
// runtime makes its own; this is for running a function without one
// (package functions/fntest).
func NewOutputs(function string, lookup func(component string) (bindings.OutputBinding, error)) *Outputs {
	return &Outputs{function: function, lookup: lookup}
}

// Output returns the named output binding, or an error naming the function
// and the component when there is no such output.
func (o *Outputs) Output(name string) (bindings.OutputBinding, error) {
	ob, err := o.find(name)
	if err != nil {
		return bindings.OutputBinding{}, fmt.Errorf("function %q: %w", o.function, err)
	}
	return ob, nil
}

func (o *Outputs) find(name string) (bindings.OutputBinding, error) {
	if o.rt == nil {
		return o.lookup(name)
	}
	ob, ok := o.rt.outputs[name]
	if !ok {
		return bindings.OutputBinding{}, fmt.Errorf("no output component named %q%s", name, o.rt.componentHint(name))
	}
	return ob, nil
}

// Bind binds one Outputs field: it looks up the component and calls the
// client's BindOutput. Errors name the field, the component and both types.
func (o *Outputs) Bind(field string, client bindings.Binder, component string) error {
	ob, err := o.find(component)
	if err != nil {
		return fmt.Errorf("function %q: field %s (%T): %w", o.function, field, client, err)
	}
	if err := client.BindOutput(ob); err != nil {
		return fmt.Errorf("function %q: field %s (%T) cannot use component %q (%s): %w", o.function, field, client, component, ob.Type.Name, err)
	}
	return nil
}

// LoadSettings fills one settings field of a function (a struct with
// envconfig tags) from the environment, with prefix as envconfig's prefix.
// Generated Binds call it at start-up for Outputs fields tagged env:"...";
// errors name the function and the field.
func (o *Outputs) LoadSettings(field string, settings any, prefix string) error {
	if err := envconfig.Process(prefix, settings); err != nil {
		return fmt.Errorf("function %q: settings field %s: %w", o.function, field, err)
	}
	return nil
}

// ReturnTo is the middleware that sends a successful handler's Result to the
// function's return binding (operation create); a failed send fails the
// attempt. The runtime adds it for functions with a Return.
func ReturnTo(out bindings.OutputBinding) Middleware { return returnTo(out) }

// Action is what the runtime does with a message once its middleware chain
// returned.
type Action uint8

const (
	// Acked: the handler succeeded; the message is acked.
	Acked Action = iota
	// RetryLater: the attempt failed; the message is delivered again after
	// Delay.
	RetryLater
	// DeadLettered: the message failed for good and is now in the trigger's
	// dead-letter binding; the original is acked.
	DeadLettered
	// Exhausted: the message failed for good and the trigger has no
	// dead-letter binding; the broker's own dead letter takes it where it has
	// one, otherwise it is nacked for the broker to keep (redelivered after
	// Delay).
	Exhausted
	// Abandoned: shutdown cancelled the attempt; the message is nacked at once
	// without counting as a failure.
	Abandoned
)

func (a Action) String() string {
	switch a {
	case Acked:
		return "acked"
	case RetryLater:
		return "retry"
	case DeadLettered:
		return "dead-lettered"
	case Exhausted:
		return "exhausted"
	case Abandoned:
		return "abandoned"
	}
	return fmt.Sprintf("Action(%d)", a)
}

// Decision is how the runtime settles a message after one attempt.
type Decision struct {
	Action Action
	// Delay before the message comes back, for RetryLater and Exhausted.
	Delay time.Duration
	// Snoozed: a RetryLater the handler asked for with functions.RetryAfter.
	// It is no failed attempt: the next one has the same attempt number.
	Snoozed bool
	// Err is the attempt's error as the handler (or a middleware: timeout,
	// panic) returned it, without the runtime's wrapping; nil for Acked.
	Err error
}

// Decide reads the decision out of the error a delivery middleware chain
// (Retry, DeadLetter...) returned, as the dispatcher does. A plain error,
// from a chain without the delivery middleware, is a RetryLater with no
// Delay of its own (the dispatcher then uses the trigger's backoff).
func Decide(err error) Decision {
	var dl *deadLetteredError
	var ex *exhaustedError
	switch r, retry := asRetry(err); {
	case err == nil:
		return Decision{Action: Acked}
	case errors.Is(err, errShutdown):
		return Decision{Action: Abandoned, Err: err}
	case retry:
		return Decision{Action: RetryLater, Delay: r.delay, Err: r.err, Snoozed: r.snooze}
	case errors.As(err, &dl):
		return Decision{Action: DeadLettered, Err: dl.err}
	case errors.As(err, &ex):
		return Decision{Action: Exhausted, Delay: ex.delay, Err: ex.err}
	}
	return Decision{Action: RetryLater, Err: err}
}
