package trigger

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherfn/tether/bindings"
)

// Metrics are the runtime's Prometheus collectors, labelled by function and
// binding.
type Metrics struct {
	reg                                                prometheus.Registerer
	received, succeeded, failed, retried, deadLettered *prometheus.CounterVec
	duration                                           *prometheus.HistogramVec
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"function", "binding"}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tether", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		reg:          reg,
		received:     counter("messages_received_total", "Delivery attempts started."),
		succeeded:    counter("messages_succeeded_total", "Attempts whose handler succeeded; the message was acked."),
		failed:       counter("messages_failed_total", "Attempts that failed (error, panic or timeout)."),
		retried:      counter("messages_retried_total", "Failed attempts scheduled for another attempt."),
		deadLettered: counter("messages_dead_lettered_total", "Messages sent to the dead-letter binding."),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "tether", Name: "handler_duration_seconds",
			Help: "Handler call duration.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, labels),
	}
	reg.MustRegister(m.received, m.succeeded, m.failed, m.retried, m.deadLettered, m.duration)
	return m
}

// clockEpoch is what handler durations are measured from: time.Since of a
// time with a monotonic reading reads one clock, where time.Now reads two
// (wall and monotonic). On the virtual machines functions run on a clock
// read costs about 100ns, as much as the rest of the metrics.
var clockEpoch = time.Now()

// Middleware counts each attempt by outcome. Label values are bound once per
// trigger, so counting costs no allocation per message.
func (m *Metrics) Middleware(function, binding string) Middleware {
	received := m.received.WithLabelValues(function, binding)
	succeeded := m.succeeded.WithLabelValues(function, binding)
	failed := m.failed.WithLabelValues(function, binding)
	retried := m.retried.WithLabelValues(function, binding)
	deadLettered := m.deadLettered.WithLabelValues(function, binding)
	duration := m.duration.WithLabelValues(function, binding)
	// In flight is read when scraped: an integer add per message instead of
	// a Prometheus gauge's compare-and-swap loop, which the workers of a
	// busy trigger contend on.
	var inFlight atomic.Int64
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "tether", Name: "messages_in_flight", Help: "Handler calls running now.",
		ConstLabels: prometheus.Labels{"function": function, "binding": binding},
	}, func() float64 { return float64(inFlight.Load()) }))
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *bindings.Message) (Result, error) {
			received.Inc()
			inFlight.Add(1)
			start := time.Since(clockEpoch)
			res, err := next(ctx, msg)
			duration.Observe((time.Since(clockEpoch) - start).Seconds())
			inFlight.Add(-1)
			if err == nil {
				succeeded.Inc()
				return res, nil
			}
			if errors.Is(err, errShutdown) {
				return res, err
			}
			failed.Inc()
			if _, ok := asRetry(err); ok {
				retried.Inc()
			}
			var dl *deadLetteredError
			if errors.As(err, &dl) {
				deadLettered.Inc()
			}
			return res, err
		}
	}
}
