package hello_test

import (
	"encoding/json"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/examples/hello"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/functions/fntest"
)

// TestEndToEnd runs the generated function on the runtime with the
// example's own components, as its binary would.
func TestEndToEnd(t *testing.T) {
	for _, q := range []string{"names", "greetings", "rejected"} {
		memory.Reset(q)
	}
	fntest.Start(t, []string{"components"}, hello.GreetFunction())

	memory.Publish("names",
		&bindings.Message{Data: []byte(`{"name":"Ada"}`), ContentType: "application/json"},
		&bindings.Message{ID: "nameless", Data: []byte(`{}`), ContentType: "application/json"},
		&bindings.Message{Data: []byte(`{"name":"Grace"}`), ContentType: "application/json"},
	)
	got := map[string]bool{}
	for _, m := range fntest.Receive(t, "greetings", 2) {
		var g hello.Greeting
		if err := json.Unmarshal(m.Data, &g); err != nil {
			t.Fatal(err)
		}
		got[g.Message] = true
	}
	if !got["Hello, Ada!"] || !got["Hello, Grace!"] {
		t.Errorf("greetings %v", got)
	}
	dead := fntest.Receive(t, "rejected", 1)[0]
	var env functions.DeadLetter
	if err := json.Unmarshal(dead.Data, &env); err != nil {
		t.Fatal(err)
	}
	if env.Function != "greet" || env.MessageID != "nameless" || !env.Permanent || env.Attempts != 1 || string(env.Data) != `{}` {
		t.Errorf("dead letter %+v", env)
	}
}
