package trigger

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tetherfn/tether/bindings"
)

func TestMetricsCountOutcomes(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	mw := m.Middleware("fn", "in")
	msg := &bindings.Message{ID: "1"}
	ctx := deliveryCtx(1, msg)
	_, _ = mw(succeed)(ctx, msg)
	_, _ = mw(failWith(&retryError{delay: time.Second, err: errBoom}))(ctx, msg)
	_, _ = mw(failWith(&deadLetteredError{err: errBoom}))(ctx, msg)
	_, _ = mw(failWith(errBoom))(ctx, msg)
	_, _ = mw(failWith(errShutdown))(ctx, msg)

	for _, c := range []struct {
		name string
		vec  *prometheus.CounterVec
		want float64
	}{
		{"received", m.received, 5},
		{"succeeded", m.succeeded, 1},
		{"failed", m.failed, 3},
		{"retried", m.retried, 1},
		{"dead-lettered", m.deadLettered, 1},
	} {
		if got := testutil.ToFloat64(c.vec.WithLabelValues("fn", "in")); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if got := testutil.ToFloat64(m.inFlight.WithLabelValues("fn", "in")); got != 0 {
		t.Errorf("in flight = %v after all returned", got)
	}
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Errorf("duration series = %d, want 1", n)
	}
}
