package trigger

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

type ctxKey struct{}

func TestHandlerContext(t *testing.T) {
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	hc := &handlerContext{parent: parent, origin: &functions.Delivery{Function: "fn"}}

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

// TestHandlerContextDeliveryIsBuiltOnce: the Delivery is built on first use,
// from the function's part and the attempt's, and every caller (goroutines
// of the handler at once included) gets the same one, so that what a
// middleware sets on it is what the handler sees.
func TestHandlerContextDeliveryIsBuiltOnce(t *testing.T) {
	origin := &functions.Delivery{Function: "fn", Binding: "in", BindingType: "bindings.memory"}
	m := &bindings.Message{ID: "m1", DeliveryCount: 3}
	hc := &handlerContext{parent: context.Background(), origin: origin, msg: m, attempt: 3}
	if hc.built.Load() != nil {
		t.Fatal("built before anyone asked")
	}
	got := make(chan *functions.Delivery, 8)
	for range cap(got) {
		go func() { got <- functions.FromContext(hc) }()
	}
	first := <-got
	for range cap(got) - 1 {
		if d := <-got; d != first {
			t.Fatal("two callers got different deliveries")
		}
	}
	want := functions.Delivery{Function: "fn", Binding: "in", BindingType: "bindings.memory", Attempt: 3, Message: m}
	if *first != want {
		t.Errorf("delivery = %+v; want %+v", *first, want)
	}
	first.Logger = slog.Default() // as tracing does
	if d := functions.FromContext(hc); d.Logger != first.Logger {
		t.Error("a change to the delivery is not seen by the next caller")
	}
	if origin.Logger != nil {
		t.Error("the change reached the function's shared part")
	}
}

// TestChainLeavesTheDeliveryUnbuilt: a success through the runtime's
// middleware, debug logging off, does not build the Delivery that a handler
// taking its payload never asks for.
func TestChainLeavesTheDeliveryUnbuilt(t *testing.T) {
	noop := func(context.Context, *bindings.Message) (Result, error) { return Result{}, nil }
	origin := &functions.Delivery{Function: "f", Binding: "b", Logger: slog.New(slog.DiscardHandler)}
	h := Chain(noop, ChainOptions{Function: "f", Binding: "b", Policy: bindings.DefaultDeliveryPolicy(),
		Metrics: NewMetrics(prometheus.NewRegistry()), Observer: discard{}})
	m := &bindings.Message{ID: "1", DeliveryCount: 1}
	hc := &handlerContext{parent: context.Background(), origin: origin, attempt: 1, msg: m}
	if _, err := h(hc, m); err != nil {
		t.Fatal(err)
	}
	if hc.built.Load() != nil {
		t.Error("the chain built the delivery")
	}
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
// stays within the allocator's 144-byte size class (a field added past it
// makes every attempt allocate 160 bytes or more: pack it, or say why here).
func TestHandlerContextSize(t *testing.T) {
	if size := unsafe.Sizeof(handlerContext{}); size > 144 {
		t.Errorf("handlerContext is %d bytes, past the 144-byte size class", size)
	}
}

// TestHandlerContextLayout holds the rule of handlerContext's field order:
// the writes that make a context (initContext) reach every cache line that
// arming its deadline and ending it touch, wherever the context starts. A
// context of the 144-byte class starts 0, 16, 32 or 48 bytes into a 64-byte
// line (its span is page-aligned, and 144 is 2×64+16). A field only arm or
// cancel touches, on a line of its own, makes every attempt wait for memory
// there (see the struct's comment).
func TestHandlerContextLayout(t *testing.T) {
	type field struct {
		name      string
		off, size uintptr
	}
	var c handlerContext
	made := []field{ // initContext's writes (keep in step with it)
		{"parent", unsafe.Offsetof(c.parent), unsafe.Sizeof(c.parent)},
		{"shard", unsafe.Offsetof(c.shard), unsafe.Sizeof(c.shard)},
		{"clock", unsafe.Offsetof(c.clock), unsafe.Sizeof(c.clock)},
		{"origin", unsafe.Offsetof(c.origin), unsafe.Sizeof(c.origin)},
		{"msg", unsafe.Offsetof(c.msg), unsafe.Sizeof(c.msg)},
		{"attempt", unsafe.Offsetof(c.attempt), unsafe.Sizeof(c.attempt)},
	}
	later := []field{ // arm's and cancel's, in every attempt
		{"startTick", unsafe.Offsetof(c.startTick), unsafe.Sizeof(c.startTick)},
		{"limit", unsafe.Offsetof(c.limit), unsafe.Sizeof(c.limit)},
		{"timeout", unsafe.Offsetof(c.timeout), unsafe.Sizeof(c.timeout)},
		{"mu", unsafe.Offsetof(c.mu), unsafe.Sizeof(c.mu)},
		{"expiredAt", unsafe.Offsetof(c.expiredAt), unsafe.Sizeof(c.expiredAt)},
		{"cause", unsafe.Offsetof(c.cause), unsafe.Sizeof(c.cause)},
		{"done", unsafe.Offsetof(c.done), unsafe.Sizeof(c.done)},
		{"afters", unsafe.Offsetof(c.afters), unsafe.Sizeof(c.afters)},
	}
	for start := uintptr(0); start < 64; start += 16 {
		line := func(off uintptr) uintptr { return (start + off) / 64 }
		fetched := map[uintptr]bool{}
		for _, f := range made {
			fetched[line(f.off)], fetched[line(f.off+f.size-1)] = true, true
		}
		for _, f := range later {
			if !fetched[line(f.off)] || !fetched[line(f.off+f.size-1)] {
				t.Errorf("starting %d bytes into a cache line, %s (bytes %d-%d) is on a line initContext does not write",
					start, f.name, f.off, f.off+f.size-1)
			}
		}
	}
}
