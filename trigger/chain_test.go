package trigger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// TestChainAsItsMiddleware: Chain (the runtime's own middleware as one
// call, ownChain) decides, counts, logs and dead-letters every kind of
// attempt as the exported middleware composed in its order do: metrics,
// logging, dead letter, retry, recover, timeout. Each scenario runs the
// same deliveries of one message through both, on the same fake clock.
func TestChainAsItsMiddleware(t *testing.T) {
	policy := bindings.DefaultDeliveryPolicy()
	policy.MaxAttempts = 3
	policy.Jitter = 0
	policy.HandlerTimeout = time.Second
	slow := func(ctx context.Context, m *bindings.Message) (Result, error) {
		time.Sleep(10 * time.Millisecond)
		return Result{Data: []byte("done")}, nil
	}
	for _, tc := range []struct {
		name      string
		handler   Handler
		attempts  int   // deliveries of the message, DeliveryCount 1, 2, ...
		deadFails error // the dead-letter output's error
	}{
		{"success", slow, 2, nil},
		{"failure then retries exhausted", failWith(errBoom), 3, nil},
		{"permanent", failWith(functions.Permanent(errBoom)), 1, nil},
		{"snooze", failWith(functions.RetryAfter(time.Minute, errBoom)), 2, nil},
		{"panic", func(context.Context, *bindings.Message) (Result, error) { panic("boom") }, 3, nil},
		{"timeout", func(ctx context.Context, m *bindings.Message) (Result, error) {
			<-ctx.Done()
			return Result{}, ctx.Err()
		}, 3, nil},
		{"dead letter fails", failWith(functions.Permanent(errBoom)), 2, errors.New("dead-letter output down")},
		{"fails then succeeds", func(ctx context.Context, m *bindings.Message) (Result, error) {
			if m.DeliveryCount < 2 {
				return Result{}, errBoom
			}
			return Result{Data: []byte("at last")}, nil
		}, 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fused := runChain(t, tc.handler, policy, tc.attempts, tc.deadFails, func(h Handler, o ChainOptions, failures *failureLog) Handler {
				chain, _ := chainWith(h, o, failures)
				return chain
			})
			composed := runChain(t, tc.handler, policy, tc.attempts, tc.deadFails, func(h Handler, o ChainOptions, failures *failureLog) Handler {
				mws := []Middleware{
					o.Metrics.Middleware(o.Function, o.Binding),
					Logging(),
					deadLetter(o.Function, o.Binding, o.DeadLetter, o.Policy.MaxInterval, envelopeFilter{}, failures),
					Retry(o.Policy),
					Recover(),
					Timeout(o.Policy.HandlerTimeout),
				}
				for i := len(mws) - 1; i >= 0; i-- {
					h = mws[i](h)
				}
				return h
			})
			if fused != composed {
				t.Errorf("Chain:\n%s\nthe middleware composed:\n%s", fused, composed)
			}
		})
	}
}

// runChain delivers one message attempts times through the chain that
// build makes of h, and describes what came of it: each attempt's result
// and decision, the dead letters sent, the metrics and the log.
func runChain(t *testing.T, h Handler, policy bindings.DeliveryPolicy, attempts int, deadFails error,
	build func(Handler, ChainOptions, *failureLog) Handler) string {
	var out bytes.Buffer
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		dl := &recordingOutput{fail: deadFails}
		var log bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey || a.Key == "stack" {
					return slog.Attr{}
				}
				return a
			},
		}))
		chain := build(h, ChainOptions{Function: "fn", Binding: "in", Policy: policy, DeadLetter: dl,
			Metrics: NewMetrics(reg)}, newFailureLog(failureLogMax))
		for n := 1; n <= attempts; n++ {
			m := &bindings.Message{ID: "m1", Data: []byte(`{}`), DeliveryCount: n}
			ctx := functions.NewContext(context.Background(), &functions.Delivery{Function: "fn", Binding: "in",
				Attempt: n, Message: m, Logger: logger})
			res, err := chain(ctx, m)
			d := Decide(err)
			fmt.Fprintf(&out, "attempt %d: result %q, %v delay %v snoozed %v: %v\n", n, res.Data, d.Action, d.Delay, d.Snoozed, d.Err)
			time.Sleep(time.Second)
		}
		for _, r := range dl.reqs {
			fmt.Fprintf(&out, "dead letter: %s\n", r.Data)
		}
		for _, name := range []string{"tether_messages_received_total", "tether_messages_succeeded_total",
			"tether_messages_failed_total", "tether_messages_retried_total", "tether_messages_dead_lettered_total",
			"tether_messages_in_flight"} {
			fmt.Fprintf(&out, "%s %v\n", name, gatherValue(t, reg, name))
		}
		hist := gatherHistogram(t, reg, "tether_handler_duration_seconds")
		fmt.Fprintf(&out, "duration count %d sum %v\n", hist.GetSampleCount(), hist.GetSampleSum())
		out.WriteString(log.String())
	})
	return out.String()
}
