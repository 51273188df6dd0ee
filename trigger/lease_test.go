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

// TestOrderedRetryKeepsTheLease: an ordered trigger retries a failed
// message in place, holding it for the retry delay. On a broker with leases
// (JetStream's AckWait, SQS FIFO's visibility timeout) the lease must be
// extended meanwhile, or the broker hands the message to another consumer
// while this one still retries it: handled twice, and out of order.
func TestOrderedRetryKeepsTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lease = 10 * time.Second // extensions every 10s, each for 20s
		in := leaseInput{newFakeInput()}
		typ := &bindings.Type{Name: "test.lease", Capabilities: bindings.Capabilities{Ordering: true, Lease: true, DelayedNack: true}}
		policy := bindings.DefaultDelivery()
		policy.Ordered, policy.MaxConcurrency, policy.LeaseExtension = true, 1, lease
		h := Chain(func(ctx context.Context, _ *bindings.Message) (Result, error) {
			if functions.FromContext(ctx).Attempt == 1 {
				return Result{}, functions.RetryAfter(time.Minute, errors.New("not yet"))
			}
			return Result{}, nil
		}, ChainOptions{Function: "fn", Binding: "in", Policy: policy})
		d := newDispatcher("fn", "in", typ, in, policy, h, context.Background(), discardLogger)
		d.start()
		defer d.stop(context.Background())

		start := time.Now()
		in.msgs <- &bindings.Message{ID: "m1", Key: "k", DeliveryCount: 1}
		held := start.Add(2 * lease) // the lease the runtime can count on at first
		for {
			ev := <-in.events
			if ev.at.After(held) {
				t.Fatalf("%s at +%s: the lease ran out at +%s while the message was held for its retry",
					ev.op, ev.at.Sub(start), held.Sub(start))
			}
			if ev.op == "ack" {
				break
			}
			if ev.op != "extend" || ev.id != "m1" {
				t.Fatalf("unexpected %+v", ev)
			}
			held = ev.at.Add(ev.delay)
		}
		if elapsed := time.Since(start); elapsed < time.Minute {
			t.Fatalf("acked after %s, before the retry delay", elapsed)
		}
	})
}
