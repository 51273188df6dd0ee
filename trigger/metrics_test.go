package trigger

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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
		want float64
	}{
		{"tether_messages_received_total", 5},
		{"tether_messages_succeeded_total", 1},
		{"tether_messages_failed_total", 3},
		{"tether_messages_retried_total", 1},
		{"tether_messages_dead_lettered_total", 1},
		{"tether_messages_in_flight", 0},
	} {
		if got := gatherValue(t, reg, c.name); got != c.want {
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
	h := gatherHistogram(t, reg, "tether_handler_duration_seconds")
	if h.GetSampleCount() < 5 {
		t.Errorf("duration count = %d, want the 5 attempts that ended (6 once the last one has)", h.GetSampleCount())
	}
}

// TestMetricsDurationBuckets: an attempt's duration lands in the first
// bucket whose upper bound is at least it, and buckets are cumulative.
func TestMetricsDurationBuckets(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	s := m.attempts.stats("fn", "in")
	if m.attempts.stats("fn", "in") != s {
		t.Fatal("a second middleware of the same function and binding counts apart")
	}
	for i, d := range []time.Duration{time.Microsecond, 500 * time.Microsecond, time.Millisecond, time.Hour} {
		shard := s.shard(uint8(3 * i)) // the shards add up
		shard.started.Add(1)
		shard.observe(d)
	}
	h := gatherHistogram(t, reg, "tether_handler_duration_seconds")
	want := map[float64]uint64{0.0005: 2, 0.002: 3, 0.008: 3}
	for _, b := range h.GetBucket() {
		if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
	}
	if h.GetSampleCount() != 4 {
		t.Errorf("count = %d, want 4", h.GetSampleCount())
	}
	if want := (time.Hour + 1501*time.Microsecond).Seconds(); h.GetSampleSum() != want {
		t.Errorf("sum = %v, want %v", h.GetSampleSum(), want)
	}
	if got := gatherValue(t, reg, "tether_messages_in_flight"); got != 0 {
		t.Errorf("in flight = %v, want 0", got)
	}
}

func gatherHistogram(t *testing.T, reg *prometheus.Registry, name string) *dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetHistogram()
		}
	}
	t.Fatalf("no single %s", name)
	return nil
}

// gatherValue reads the single value of a gauge or counter from the
// registry.
func gatherValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			if c := mf.Metric[0].GetCounter(); c != nil {
				return c.GetValue()
			}
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single %s", name)
	return 0
}
