package bindingtest

import (
	"testing"

	"github.com/tetherfn/tether/bindings"
)

// TestArrivalBeforeSendReturnsCountsAsSent: a broker may deliver a message
// before its send returns, and the last such delivery ends the test before
// that send is recorded: the message was sent all the same.
func TestArrivalBeforeSendReturnsCountsAsSent(t *testing.T) {
	c := newCounter(2)
	c.sentOne(0)
	c.add("run", 0, &bindings.Message{ID: "a", Data: []byte("run/0")})
	if all := c.add("run", 1, &bindings.Message{ID: "b", Data: []byte("run/1")}); !all {
		t.Fatal("both messages arrived, and the counter wants more")
	}
	if c.unsent != 0 {
		t.Errorf("%d messages counted as not sent when the last arrived, want 0", c.unsent)
	}
	c.sentOne(1) // its send returns after the test ended: counted once
	if c.unsent != 0 {
		t.Errorf("%d messages counted as not sent after the late send returned, want 0", c.unsent)
	}
}
