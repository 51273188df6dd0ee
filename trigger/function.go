package trigger

import (
	"context"
	"fmt"
	"regexp"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// Handler handles one message. A nil error acks the message; any other error
// is a failed attempt that the delivery policy retries or dead-letters. The
// Result goes to the function's return binding or, for request/reply triggers
// (webhooks), back to the caller.
type Handler func(ctx context.Context, m *bindings.Message) (Result, error)

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
	// result.
	Handler Handler
	// Bind is called once at start-up, before any message is received, to
	// bind the function's output clients (and load its settings). An error
	// stops start-up.
	Bind func(ctx context.Context, o *Outputs) error
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func (f *Function) validate() error {
	switch {
	case !nameRE.MatchString(f.Name):
		return fmt.Errorf("function name %q: want a DNS-1123 label (lower-case letters, digits and '-', at most 63)", f.Name)
	case f.Trigger == "":
		return fmt.Errorf("function %q: no trigger component", f.Name)
	case f.Handler == nil:
		return fmt.Errorf("function %q: nil handler", f.Name)
	}
	return nil
}

// Outputs gives a function's Bind access to the opened output bindings.
type Outputs struct {
	function string
	rt       *Runtime
}

// Output returns the named output binding, or an error naming the function
// and the component when there is no such output.
func (o *Outputs) Output(name string) (functions.OutputBinding, error) {
	ob, ok := o.rt.outputs[name]
	if !ok {
		return functions.OutputBinding{}, fmt.Errorf("function %q: no output component named %q%s", o.function, name, o.rt.outputHint(name))
	}
	return ob, nil
}

// Bind binds one Outputs field: it looks up the component and calls the
// client's BindOutput. Errors name the field, the component and both types.
func (o *Outputs) Bind(field string, client functions.Binder, component string) error {
	ob, err := o.Output(component)
	if err != nil {
		return fmt.Errorf("field %s: %w", field, err)
	}
	if err := client.BindOutput(ob); err != nil {
		return fmt.Errorf("function %q: field %s (%T) cannot use component %q (%s): %w", o.function, field, client, component, ob.Type.Name, err)
	}
	return nil
}
