package functions_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/functions/fntest"
)

type Person struct {
	Name string `json:"name"`
}

type Greeting struct {
	Message string `json:"message"`
}

// Outputs is the struct `go generate` binds: one field per output binding.
type Outputs struct {
	Greetings functions.Output[Greeting] `binding:"greetings"`
}

// Greet is a handler as a user writes it.
func Greet(ctx context.Context, p Person, out Outputs) error {
	if p.Name == "" {
		return functions.Permanent(errors.New("no name"))
	}
	return out.Greetings.Send(ctx, Greeting{Message: "Hello, " + p.Name + "!"})
}

// A handler is a plain function: here its output is bound by hand to a
// recording binding, as the generated code binds it to the component named
// in the tag.
func Example() {
	rec := fntest.NewRecorder("greetings")
	var out Outputs
	if err := out.Greetings.BindOutput(rec.Binding()); err != nil {
		panic(err)
	}

	err := Greet(context.Background(), Person{Name: "Ada"}, out)
	fmt.Println("error:", err)
	for _, s := range rec.Sent() {
		fmt.Printf("%s %s %s\n", s.Operation, s.ContentType, s.Data)
	}
	// Output:
	// error: <nil>
	// create application/json {"message":"Hello, Ada!"}
}

// Output sends values with the binding's "create" operation, JSON-encoded
// unless they are []byte or string; options add binding metadata per call.
func ExampleOutput_Send() {
	rec := fntest.NewRecorder("audit")
	var audit functions.Output[string]
	if err := audit.BindOutput(rec.Binding()); err != nil {
		panic(err)
	}

	_ = audit.Send(context.Background(), "order o-1 stored", functions.WithMetadataKey("partitionKey", "o-1"))

	s := rec.Sent()[0]
	fmt.Println(audit.Binding(), s.ContentType, string(s.Data), s.Metadata["partitionKey"])
	// Output:
	// audit text/plain; charset=utf-8 order o-1 stored o-1
}

// Permanent skips the retries: the runtime dead-letters the message at once.
// It still wraps the cause for errors.Is and errors.As.
func ExamplePermanent() {
	errNoName := errors.New("no name")
	err := functions.Permanent(fmt.Errorf("validate: %w", errNoName))

	fmt.Println(err)
	fmt.Println(functions.IsPermanent(err), errors.Is(err, errNoName))
	fmt.Println(functions.IsPermanent(errNoName), functions.Permanent(nil) == nil)
	// Output:
	// permanent: validate: no name
	// true true
	// false true
}

// RetryAfter asks for the next attempt after a given delay (a rate limit's
// Retry-After, say) instead of the trigger's backoff.
func ExampleRetryAfter() {
	err := functions.RetryAfter(30*time.Second, errors.New("429 from the payments API"))

	delay, ok := functions.RetryDelay(err)
	fmt.Println(err)
	fmt.Println(delay, ok)
	// Output:
	// retry after 30s: 429 from the payments API
	// 30s true
}

// A handler that takes a *functions.Event sees the message as a CloudEvent:
// the id, a source and type naming the trigger, the payload's bytes as they
// came, and the broker's metadata as extensions.
func ExampleEvent() {
	m := &bindings.Message{
		ID:          "m-1",
		Data:        []byte(`{"name":"Ada"}`),
		ContentType: "application/json",
		Metadata:    map[string]string{"x-tenant": "acme"},
	}
	ev := functions.NewEvent("names", "bindings.aws.sqs", 1, m)

	var p Person
	_ = ev.DataAs(&p)
	fmt.Println(ev.ID(), ev.Source(), ev.Type())
	fmt.Println(p.Name, ev.Extensions()[functions.ExtensionName("x-tenant")], ev.Attempt)
	// Output:
	// m-1 /bindings/names dev.tether.aws.sqs.message
	// Ada acme 1
}
