package hello_test

import (
	"errors"
	"testing"

	"github.com/tetherfn/tether/examples/hello"
	"github.com/tetherfn/tether/functions/fntest"
	"github.com/tetherfn/tether/trigger"
)

func TestGreet(t *testing.T) {
	h := fntest.New(t, hello.GreetFunction())
	if out := h.Send(hello.Person{Name: "Ada"}); !out.Acked() {
		t.Fatalf("outcome %v, want acked", out)
	}
	sent := h.Output("greetings").Sent()
	if len(sent) != 1 {
		t.Fatalf("sent %d greetings, want 1", len(sent))
	}
	if g := fntest.Decode[hello.Greeting](t, sent[0]); g.Message != "Hello, Ada!" {
		t.Errorf("greeting %q", g.Message)
	}
}

func TestSalutationFromEnvironment(t *testing.T) {
	t.Setenv("HELLO_SALUTATION", "Bonjour")
	h := fntest.New(t, hello.GreetFunction())
	h.Send(hello.Person{Name: "Ada"})
	if g := fntest.Decode[hello.Greeting](t, h.Output("greetings").Sent()[0]); g.Message != "Bonjour, Ada!" {
		t.Errorf("greeting %q", g.Message)
	}
}

func TestNamelessIsDeadLettered(t *testing.T) {
	h := fntest.New(t, hello.GreetFunction())
	out := h.Send(hello.Person{})
	if out.Action != trigger.DeadLettered || !errors.Is(out.Err, hello.ErrNoName) || !out.DeadLetter.Permanent {
		t.Fatalf("outcome %v, want dead-lettered at once", out)
	}
	if got := h.Output("greetings").Sent(); len(got) != 0 {
		t.Errorf("sent %v", got)
	}
}

func TestGreetingsDownIsRetried(t *testing.T) {
	h := fntest.New(t, hello.GreetFunction(), fntest.Fail("greetings", errors.New("queue full")))
	out := h.Send(hello.Person{Name: "Ada"})
	if out.Action != trigger.RetryLater || out.Delay <= 0 {
		t.Fatalf("outcome %v, want a retry after a delay", out)
	}
}
