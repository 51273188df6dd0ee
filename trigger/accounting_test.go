package trigger

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

type userKey struct{}

// wrappings are what a user's (or a tracer's) middleware does to the ctx it
// passes on. None may change the runtime's accounting.
var wrappings = map[string]func(context.Context) context.Context{
	"WithValue": func(ctx context.Context) context.Context { return context.WithValue(ctx, userKey{}, "span") },
	"WithCancel": func(ctx context.Context) context.Context {
		c, cancel := context.WithCancel(ctx)
		context.AfterFunc(ctx, cancel)
		return c
	},
	"forged delivery": func(ctx context.Context) context.Context {
		return functions.NewContext(ctx, &functions.Delivery{Attempt: 99})
	},
}

// TestAccountingIgnoresWrappedContext: the attempt number, the shutdown
// cancellation and the handler timeout are read from the message and the
// runtime's own handler context, not from the ctx that reaches Retry and
// Timeout, so a middleware outside them (a tracer, the user's) that wraps
// or replaces ctx values changes no decision.
func TestAccountingIgnoresWrappedContext(t *testing.T) {
	policy := bindings.DefaultDeliveryPolicy()
	policy.MaxAttempts, policy.Jitter = 3, 0
	for name, wrap := range wrappings {
		t.Run(name, func(t *testing.T) {
			wrapped := func(next Handler) Handler {
				return func(ctx context.Context, m *bindings.Message) (Result, error) { return next(wrap(ctx), m) }
			}
			// Attempts: the first of three is retried.
			m := &bindings.Message{ID: "m", DeliveryCount: 1}
			hc := &handlerContext{parent: context.Background(), attempt: 1, msg: m}
			_, err := wrapped(Retry(policy)(failWith(errBoom)))(hc, m)
			if d := Decide(err); d.Action != RetryLater {
				t.Errorf("first of 3 attempts failed: %s (%v), want a retry", d.Action, err)
			}
			// Shutdown: an attempt cut short by the end of the grace
			// period is abandoned, not counted as a failure.
			hc = &handlerContext{parent: context.Background(), attempt: 1, msg: m}
			hc.cancel(errShutdown)
			_, err = wrapped(Retry(policy)(blockUntilDone))(hc, m)
			if d := Decide(err); d.Action != Abandoned {
				t.Errorf("attempt cut short by shutdown: %s (%v), want abandoned", d.Action, err)
			}
			// Timeout: the watchdog's deadline, seen through the wrapping.
			synctest.Test(t, func(t *testing.T) {
				hc := watchedContext(t, time.Second)
				_, err := wrapped(Timeout(time.Second)(blockUntilDone))(hc, m)
				if !errors.Is(err, ErrHandlerTimeout) || !hc.expired() {
					t.Errorf("err = %v (expired %v), want ErrHandlerTimeout from the watchdog", err, hc.expired())
				}
			})
		})
	}
}

// TestTimeoutIsNotAnotherDeadline: a deadline a middleware set on ctx
// (shorter than handlerTimeout) that ends the handler is the handler's
// error, not the trigger's timeout.
func TestTimeoutIsNotAnotherDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hc := watchedContext(t, time.Hour)
		short := func(next Handler) Handler {
			return func(ctx context.Context, m *bindings.Message) (Result, error) {
				ctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				return next(ctx, m)
			}
		}
		_, err := Timeout(time.Hour)(short(blockUntilDone))(hc, &bindings.Message{})
		if errors.Is(err, ErrHandlerTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v; want the middleware's DeadlineExceeded, not ErrHandlerTimeout", err)
		}
	})
}

// TestRetryAfterIsASnooze: a handler that snoozes (functions.RetryAfter)
// more often than maxAttempts is neither dead-lettered nor nacked: every
// call sees attempt 1, the broker sees no redelivery, and the message is
// acked once the handler succeeds; on brokers with and without delayed
// nacks, ordered or not.
func TestRetryAfterIsASnooze(t *testing.T) {
	for _, tc := range []struct {
		name             string
		delayed, ordered bool
	}{
		{"broker delays nacks", true, false},
		{"runtime holds retries", false, false},
		{"ordered, in place", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				in := newFakeInput()
				typ := &bindings.Type{Name: "test.snooze", Capabilities: bindings.Capabilities{DelayedNack: tc.delayed, Ordering: true}}
				policy := bindings.DefaultDeliveryPolicy()
				policy.MaxAttempts, policy.MaxConcurrency, policy.Ordered = 2, 1, tc.ordered
				const snoozes = 5
				var attempts []int
				d := startDispatcher(in, typ, policy, func(ctx context.Context, _ *bindings.Message) (Result, error) {
					attempts = append(attempts, functions.FromContext(ctx).Attempt)
					if len(attempts) <= snoozes {
						return Result{}, functions.RetryAfter(time.Minute, errors.New("rate limited"))
					}
					return Result{}, nil
				})
				defer d.stop(context.Background())
				start := time.Now()
				in.msgs <- &bindings.Message{ID: "m", Key: "k", DeliveryCount: 1}
				if ev := <-in.events; ev.op != "ack" {
					t.Fatalf("%+v; want an ack after the snoozes, nothing before", ev)
				}
				if len(attempts) != snoozes+1 || time.Since(start) != snoozes*time.Minute {
					t.Fatalf("%d calls in %s, want %d in %s", len(attempts), time.Since(start), snoozes+1, snoozes*time.Minute)
				}
				for _, a := range attempts {
					if a != 1 {
						t.Fatalf("attempts %v: a snooze spent an attempt", attempts)
					}
				}
			})
		})
	}
}

// TestRetryAfterDecision: Decide tells a snooze from a failed attempt, and
// Retry snoozes even on the last attempt.
func TestRetryAfterDecision(t *testing.T) {
	policy := bindings.DefaultDeliveryPolicy()
	policy.MaxAttempts = 3
	m := &bindings.Message{ID: "m"}
	_, err := Retry(policy)(failWith(functions.RetryAfter(time.Minute, errBoom)))(deliveryCtx(3, m), m)
	if d := Decide(err); d.Action != RetryLater || !d.Snoozed || d.Delay != time.Minute {
		t.Fatalf("RetryAfter on the last attempt: %+v; want a snoozed retry in 1m", d)
	}
	_, err = Retry(policy)(failWith(errBoom))(deliveryCtx(1, m), m)
	if d := Decide(err); d.Action != RetryLater || d.Snoozed {
		t.Fatalf("plain error: %+v; want a retry that counts", d)
	}
}

// TestUserMiddleware: the user's middleware runs inside the runtime's
// chain, the first outermost: its panics are recovered, its errors retried,
// and it sees the delivery.
func TestUserMiddleware(t *testing.T) {
	policy := bindings.DefaultDeliveryPolicy()
	policy.MaxAttempts = 3
	var order []string
	mw := func(name string) Middleware {
		return func(next Handler) Handler {
			return func(ctx context.Context, m *bindings.Message) (Result, error) {
				order = append(order, name+":"+functions.FromContext(ctx).Function)
				return next(ctx, m)
			}
		}
	}
	panics := func(Handler) Handler {
		return func(context.Context, *bindings.Message) (Result, error) { panic("limiter broke") }
	}
	m := &bindings.Message{ID: "m"}
	h := Chain(succeed, ChainOptions{Function: "fn", Binding: "in", Policy: policy, Middleware: []Middleware{mw("a"), mw("b")}})
	if _, err := h(deliveryCtx(1, m), m); err != nil {
		t.Fatal(err)
	}
	if got := len(order); got != 2 || order[0] != "a:fn" || order[1] != "b:fn" {
		t.Fatalf("middleware ran %v, want [a:fn b:fn]", order)
	}
	h = Chain(succeed, ChainOptions{Function: "fn", Binding: "in", Policy: policy, Middleware: []Middleware{panics}})
	_, err := h(deliveryCtx(1, m), m)
	var pe *PanicError
	if d := Decide(err); d.Action != RetryLater || !errors.As(err, &pe) {
		t.Fatalf("panicking middleware: %s (%v), want a recovered panic, retried", d.Action, err)
	}
}
