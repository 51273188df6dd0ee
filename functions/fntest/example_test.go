package fntest_test

import (
	"testing"

	"github.com/tetherfn/tether/examples/hello"
	"github.com/tetherfn/tether/functions/fntest"
)

// A handler's test runs the generated function (decode, call, outputs, the
// delivery policy) and asserts on the outcome and on what it sent. The body
// below is a test function's; examples have no *testing.T, so this one is
// compiled but not run (examples/hello/hello_test.go runs the same).
func ExampleNew() {
	_ = func(t *testing.T) {
		h := fntest.New(t, hello.GreetFunction())

		out := h.Send(hello.Person{Name: "Ada"})
		if !out.Acked() {
			t.Fatalf("not acked: %v", out)
		}
		g := fntest.Decode[hello.Greeting](t, h.Output("greetings").Sent()[0])
		if g.Message != "Hello, Ada!" {
			t.Errorf("greeting = %q", g.Message)
		}

		// An empty name is refused for good: no retry, straight to the dead letter.
		if out := h.Send(hello.Person{}); out.DeadLetter == nil {
			t.Errorf("an empty name was not dead-lettered: %v", out)
		}
	}
}
