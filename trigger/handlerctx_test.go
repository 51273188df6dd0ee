package trigger

import (
	"context"
	"errors"
	"testing"
	"time"
	"unsafe"

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

func TestWatchdogExpiresOnlyAfterTheDeadline(t *testing.T) {
	wd := newWatchdog(80*time.Millisecond, nil) // ticks of 10ms
	hc := &handlerContext{parent: context.Background(), clock: wd}
	hc.expireAt(100) // not armed: nothing happens
	if hc.Err() != nil {
		t.Fatal("expired without a deadline")
	}
	wd.now.Store(5)
	hc.arm(80 * time.Millisecond)
	if dl, ok := hc.Deadline(); !ok || !dl.Equal(wd.at(5).Add(80*time.Millisecond)) {
		t.Errorf("Deadline() = %v, %v", dl, ok)
	}
	// Started somewhere within tick 5: 8 ticks later may be less than 80ms.
	hc.expireAt(5 + 8)
	if hc.Err() != nil {
		t.Fatal("expired before its deadline")
	}
	hc.expireAt(5 + 9)
	if !errors.Is(hc.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v", hc.Err())
	}
	// Disarmed, a late tick changes nothing.
	hc2 := &handlerContext{parent: context.Background(), clock: wd}
	hc2.arm(80 * time.Millisecond)
	hc2.disarm()
	hc2.expireAt(1000)
	if hc2.Err() != nil {
		t.Fatal("expired after disarm")
	}
}

// TestHandlerContextSize: every attempt allocates a handler context, so it
// stays within the allocator's 192-byte size class (a field added past it
// makes every attempt allocate 208 bytes or more: pack it, or say why here).
func TestHandlerContextSize(t *testing.T) {
	if size := unsafe.Sizeof(handlerContext{}); size > 192 {
		t.Errorf("handlerContext is %d bytes, past the 192-byte size class", size)
	}
}
