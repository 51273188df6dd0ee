package bindings

import "fmt"

// OutputBinding is an opened output binding as the runtime hands it to a
// typed client at start-up.
type OutputBinding struct {
	// Name is the component name.
	Name string
	// Type is the binding type's declaration.
	Type *Type
	// Output invokes the binding. Errors come back wrapped in *Error.
	Output
}

// Binder is implemented (on the pointer) by every type that may be a field
// of a function's Outputs struct: functions.Output[T] and each binding's own
// typed client. The runtime calls BindOutput once at start-up; an error (the
// binding's type or operations do not fit the client) stops start-up.
//
// A typed client's BindOutput checks b with Require, or with RequireDriver
// when it calls its driver directly, and keeps what it needs.
type Binder interface {
	BindOutput(b OutputBinding) error
}

// Require is the check every typed client makes when it is bound: that b is
// open, that its component is of type typeName ("" accepts any type) and
// that the type has each of ops. The error says what the client needs and
// what the component is; the runtime adds the function and the field.
func (b OutputBinding) Require(typeName string, ops ...Operation) error {
	if b.Output == nil || b.Type == nil {
		return fmt.Errorf("output binding %q is not open", b.Name)
	}
	if typeName != "" && b.Type.Name != typeName {
		return fmt.Errorf("needs a %s component, but component %q is of type %s", typeName, b.Name, b.Type.Name)
	}
	for _, op := range ops {
		if !b.Type.Supports(op) {
			return fmt.Errorf("needs operation %q, which component %q (%s) does not have", op, b.Name, b.Type.Name)
		}
	}
	return nil
}

// RequireDriver is Require(typeName) for a typed client that calls its
// driver's own methods: it also returns b's driver (see Driver) as a D, or
// an error when the component is driven by something else.
func RequireDriver[D any](b OutputBinding, typeName string) (D, error) {
	var zero D
	if err := b.Require(typeName); err != nil {
		return zero, err
	}
	d, ok := Driver(b.Output).(D)
	if !ok {
		return zero, fmt.Errorf("needs a %s component, but component %q is driven by %T", typeName, b.Name, Driver(b.Output))
	}
	return d, nil
}
