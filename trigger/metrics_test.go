package trigger

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tetherfn/tether/bindings"
)

func TestMetricsCountOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
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
	blocked, release := make(chan struct{}), make(chan struct{})
	go mw(func(context.Context, *bindings.Message) (Result, error) {
		close(blocked)
		<-release
		return Result{}, nil
	})(ctx, msg)
	<-blocked
	if got := gatherValue(t, reg, "tether_messages_in_flight"); got != 1 {
		t.Errorf("in flight = %v while one handler runs, want 1", got)
	}
	close(release)
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Errorf("duration series = %d, want 1", n)
	}
}

// gatherValue reads the single value of a gauge from the registry.
func gatherValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single %s", name)
	return 0
}
