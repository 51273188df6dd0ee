// Package hello is the smallest complete Tether function: each person put on
// the "names" queue is greeted on the "greetings" queue. A person without a
// name is refused for good, so the runtime sends it to the dead-letter
// queue "rejected" instead of retrying.
//
// The components/ folder binds the three queues to the in-memory binding;
// pointing TETHER_COMPONENTS at other files moves them to a real broker
// without a code change.
package hello

//go:generate go run github.com/tetherfn/tether/cmd/tether generate

import (
	"context"
	"errors"

	"github.com/tetherfn/tether/functions"
)

// Person is the input, decoded from JSON.
type Person struct {
	Name string `json:"name"`
}

// Greeting is what Greet sends.
type Greeting struct {
	Message string `json:"message"`
}

// Settings are read from the environment once, at start-up:
// HELLO_SALUTATION (default "Hello").
type Settings struct {
	Salutation string `envconfig:"SALUTATION" default:"Hello"`
}

// Outputs are bound at start-up, each field to the component its tag names.
type Outputs struct {
	Greetings functions.Output[Greeting] `binding:"greetings"`
	Settings  Settings                   `env:"HELLO"`
}

// ErrNoName refuses a person without a name.
var ErrNoName = errors.New("person has no name")

// Greet greets each person on the names queue.
//
//tether:function greet trigger=names
func Greet(ctx context.Context, p Person, out Outputs) error {
	if p.Name == "" {
		return functions.Permanent(ErrNoName)
	}
	g := Greeting{Message: out.Settings.Salutation + ", " + p.Name + "!"}
	if err := out.Greetings.Send(ctx, g); err != nil {
		return err
	}
	functions.Logger(ctx).Info("greeted", "greeting", g.Message)
	return nil
}
