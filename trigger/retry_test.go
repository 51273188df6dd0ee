package trigger

import (
	"errors"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

func TestRetryPolicy(t *testing.T) {
	policy := bindings.DefaultDeliveryPolicy()
	policy.MaxAttempts = 3
	policy.InitialInterval = time.Second
	policy.MaxInterval = 10 * time.Second
	policy.Jitter = 0
	m := &bindings.Message{ID: "1"}

	for _, tc := range []struct {
		name      string
		attempt   int
		err       error
		wantRetry bool
		wantDelay time.Duration
	}{
		{"first failure backs off initialInterval", 1, errBoom, true, time.Second},
		{"second failure doubles", 2, errBoom, true, 2 * time.Second},
		{"last attempt gives up", 3, errBoom, false, 0},
		{"permanent skips retries", 1, functions.Permanent(errBoom), false, 0},
		{"RetryAfter sets the delay", 1, functions.RetryAfter(7*time.Second, errBoom), true, 7 * time.Second},
		{"shutdown is not retried here", 1, errShutdown, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Retry(policy)(failWith(tc.err))(deliveryCtx(tc.attempt, m), m)
			r, retry := asRetry(err)
			if retry != tc.wantRetry {
				t.Fatalf("retry = %v (err %v), want %v", retry, err, tc.wantRetry)
			}
			if retry && r.delay != tc.wantDelay {
				t.Errorf("delay = %s, want %s", r.delay, tc.wantDelay)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("err = %v does not wrap %v", err, tc.err)
			}
		})
	}
	if _, err := Retry(policy)(succeed)(deliveryCtx(1, m), m); err != nil {
		t.Fatalf("success became %v", err)
	}
}

func TestBackoffCapsAndJitterSpreads(t *testing.T) {
	p := bindings.DefaultDeliveryPolicy()
	p.InitialInterval, p.MaxInterval, p.Multiplier = 100*time.Millisecond, time.Second, 3
	if got := p.Backoff(10); got != time.Second {
		t.Errorf("Backoff(10) = %s, want the 1s cap", got)
	}
	seen := map[time.Duration]bool{}
	for range 50 {
		d := jitter(time.Second, 0.5)
		if d < 500*time.Millisecond || d > 1500*time.Millisecond {
			t.Fatalf("jitter(1s, 0.5) = %s, outside [0.5s, 1.5s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Error("jitter never varied")
	}
}
