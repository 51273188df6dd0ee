package trigger

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tetherfn/tether/functions"
)

type ctxKey struct{}

func TestHandlerContext(t *testing.T) {
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	hc := &handlerContext{parent: parent, delivery: functions.Delivery{Function: "fn"}}

	if d := functions.FromContext(hc); d == nil || d.Function != "fn" {
		t.Fatalf("FromContext = %+v", d)
	}
	if hc.Value(ctxKey{}) != "v" {
		t.Error("parent values not visible")
	}
	if hc.Err() != nil {
		t.Fatal("fresh context already done")
	}
	// A derived context attaches through AfterFunc and is cancelled with it.
	child, cancelChild := context.WithCancel(hc)
	defer cancelChild()
	done := hc.Done()
	stopped := false
	stop := context.AfterFunc(hc, func() { stopped = true })
	if !stop() || stopped {
		t.Fatal("AfterFunc stop did not prevent the call")
	}

	hc.cancel(context.DeadlineExceeded)
	hc.cancel(context.Canceled) // only the first counts
	<-done
	<-child.Done()
	if !errors.Is(hc.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v, child %v", hc.Err(), child.Err())
	}
	// Done asked after cancellation is closed too, and AfterFunc runs at once.
	fresh := &handlerContext{parent: context.Background()}
	fresh.cancel(context.Canceled)
	<-fresh.Done()
	ran := make(chan struct{})
	context.AfterFunc(fresh, func() { close(ran) })
	<-ran
}

func TestExpireIfDueChecksTheDeadline(t *testing.T) {
	hc := &handlerContext{parent: context.Background()}
	hc.expireIfDue(time.Now()) // no deadline: nothing happens
	if hc.Err() != nil {
		t.Fatal("expired without a deadline")
	}
	hc.deadline = time.Now().Add(time.Hour)
	hc.expireIfDue(time.Now()) // a late timer from an earlier message
	if hc.Err() != nil {
		t.Fatal("expired before its deadline")
	}
	hc.expireIfDue(time.Now().Add(2 * time.Hour))
	if !errors.Is(hc.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v", hc.Err())
	}
}
