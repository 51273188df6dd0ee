package fntest_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/examples/bulkinsert"
	"github.com/tetherfn/tether/examples/hello"
	"github.com/tetherfn/tether/functions/fntest"
	"github.com/tetherfn/tether/trigger"
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

// A batch function's test sends a batch and asserts on each message's
// outcome: the generated decode runs on each, the handler once, and each
// message is settled by the runtime's delivery policy with the error the
// handler gave it. As above, the body is a test function's, compiled but
// not run (examples/bulkinsert/bulkinsert_test.go runs it on PostgreSQL).
func ExampleHarness_SendBatch() {
	_ = func(t *testing.T) {
		h := fntest.New(t, bulkinsert.StoreReadingsFunction(),
			fntest.Open("readings-db", bindings.Config{Type: "bindings.postgresql",
				Metadata: map[string]string{"connectionString": "postgres://postgres@127.0.0.1:5432/test"}}))

		outs := h.SendBatch(
			bulkinsert.Reading{ID: "r-1", Sensor: "s-1", Value: 20.5},
			bulkinsert.Reading{ID: "r-2", Value: 21}, // no sensor: refused for good
		)
		if !outs[0].Acked() || outs[1].Action != trigger.DeadLettered {
			t.Errorf("outcomes %v, want acked and dead-lettered", outs)
		}

		// Messages with their own ids, keys or attempts:
		h.SendBatchMessages(
			h.Message(bulkinsert.Reading{ID: "r-3", Sensor: "s-1"}, fntest.Key("s-1")),
			h.Message(bulkinsert.Reading{ID: "r-4", Sensor: "s-1"}, fntest.Key("s-1"), fntest.Attempt(3)),
		)
	}
}
