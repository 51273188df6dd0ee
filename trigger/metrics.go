package trigger

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherfn/tether/bindings"
)

// Metrics are the runtime's Prometheus collectors, labelled by function and
// binding.
//
// Every attempt passes through the counts of received, succeeded, in
// flight and duration, so those are kept by attempts, a collector of the
// runtime's own: four atomic adds per attempt on integers, where
// Prometheus' counters, gauge and histogram took eight and a
// compare-and-swap loop on the float sum. The rarer outcomes (failed,
// retried, dead-lettered) are Prometheus counters.
type Metrics struct {
	failed, retried, deadLettered *prometheus.CounterVec
	attempts                      *attemptCollector
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"function", "binding"}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tether", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		failed:       counter("messages_failed_total", "Attempts that failed (error, panic or timeout)."),
		retried:      counter("messages_retried_total", "Failed attempts scheduled for another attempt."),
		deadLettered: counter("messages_dead_lettered_total", "Messages sent to the dead-letter binding."),
		attempts:     newAttemptCollector(labels),
	}
	reg.MustRegister(m.failed, m.retried, m.deadLettered, m.attempts)
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
	tm := m.trigger(function, binding)
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *bindings.Message) (Result, error) {
			shard, start := tm.begin(ctx)
			res, err := next(ctx, msg)
			tm.end(shard, start, err)
			return res, err
		}
	}
}

// triggerMetrics are one trigger's collectors, their label values bound.
type triggerMetrics struct {
	stats                         *attemptStats
	failed, retried, deadLettered prometheus.Counter
}

func (m *Metrics) trigger(function, binding string) *triggerMetrics {
	return &triggerMetrics{
		stats:        m.attempts.stats(function, binding),
		failed:       m.failed.WithLabelValues(function, binding),
		retried:      m.retried.WithLabelValues(function, binding),
		deadLettered: m.deadLettered.WithLabelValues(function, binding),
	}
}

// begin counts an attempt started on ctx, in its worker's shard
// (shardOf), and returns the shard and the attempt's start, for end.
func (tm *triggerMetrics) begin(ctx context.Context) (*attemptShard, time.Duration) {
	shard := tm.stats.shard(shardOf(ctx))
	shard.started.Add(1)
	return shard, time.Since(clockEpoch)
}

// end counts the attempt begun at start in shard, which ended with err.
func (tm *triggerMetrics) end(shard *attemptShard, start time.Duration, err error) {
	shard.observe(time.Since(clockEpoch) - start)
	if err == nil {
		shard.succeeded.Add(1)
		return
	}
	if errors.Is(err, errShutdown) {
		return
	}
	tm.failed.Inc()
	if _, ok := asRetry(err); ok {
		tm.retried.Inc()
	}
	var dl *deadLetteredError
	if errors.As(err, &dl) {
		tm.deadLettered.Inc()
	}
}

// durationBuckets are the upper bounds of tether_handler_duration_seconds'
// buckets: 0.5ms, four times more each, to about 131s.
var durationBuckets = prometheus.ExponentialBuckets(0.0005, 4, 10)

// durationBounds are durationBuckets as durations, for observe.
var durationBounds = func() (b [10]time.Duration) {
	for i, s := range durationBuckets {
		b[i] = time.Duration(s * float64(time.Second))
	}
	return b
}()

// attemptStats are one trigger's counts of attempts, in shards that add
// up to them. The attempts running are those started and not yet observed.
//
// Workers count in their own shard (worker.shard): with one set of counts
// for all, every attempt's four adds moved the counts' cache line from
// the core of one worker to the other's, and on the 2-core virtual
// machines functions run on, the adds took as long as the rest of the
// middleware.
type attemptStats struct {
	labels []string // function, binding
	shards [attemptShards]attemptShard
}

// attemptShards is how many shards a trigger's attemptStats has; worker i
// counts in shard i mod attemptShards.
const attemptShards = 8

// attemptShard is a part of a trigger's counts, alone on its cache lines.
type attemptShard struct {
	started   atomic.Uint64
	succeeded atomic.Uint64
	sum       atomic.Int64                           // of the observed durations, in ns
	buckets   [len(durationBounds) + 1]atomic.Uint64 // not cumulative; the last is +Inf
	_         [128 - (3+len(durationBounds)+1)*8]byte
}

// shard is shard i mod attemptShards of s.
func (s *attemptStats) shard(i uint8) *attemptShard { return &s.shards[i%attemptShards] }

// observe records the duration of an attempt that ended.
func (s *attemptShard) observe(d time.Duration) { s.observeN(1, d) }

// observeN records n attempts that ended, each of duration d.
func (s *attemptShard) observeN(n int, d time.Duration) {
	i := 0
	for i < len(durationBounds) && d > durationBounds[i] {
		i++
	}
	s.buckets[i].Add(uint64(n))
	s.sum.Add(int64(n) * int64(d))
}

// handled records n attempts that succeeded, each of duration each, as
// the metrics middleware would one by one (in the same order: started,
// observed, succeeded), with one atomic add per count instead of n.
func (s *attemptShard) handled(n int, each time.Duration) {
	s.started.Add(uint64(n))
	s.observeN(n, each)
	s.succeeded.Add(uint64(n))
}

// attemptCollector exposes each trigger's attemptStats as
// tether_messages_received_total, tether_messages_succeeded_total,
// tether_messages_in_flight and tether_handler_duration_seconds.
type attemptCollector struct {
	received, succeeded, inFlight, duration *prometheus.Desc

	mu   sync.Mutex
	all  []*attemptStats
	byFB map[[2]string]*attemptStats
}

func newAttemptCollector(labels []string) *attemptCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("tether", "", name), help, labels, nil)
	}
	return &attemptCollector{
		received:  desc("messages_received_total", "Delivery attempts started."),
		succeeded: desc("messages_succeeded_total", "Attempts whose handler succeeded; the message was acked."),
		inFlight:  desc("messages_in_flight", "Handler calls running now."),
		duration:  desc("handler_duration_seconds", "Handler call duration."),
		byFB:      map[[2]string]*attemptStats{},
	}
}

// stats returns the stats of function and binding, made on first use.
func (c *attemptCollector) stats(function, binding string) *attemptStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := [2]string{function, binding}
	if s := c.byFB[key]; s != nil {
		return s
	}
	s := &attemptStats{labels: []string{function, binding}}
	c.byFB[key] = s
	c.all = append(c.all, s)
	return s
}

func (c *attemptCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.received
	ch <- c.succeeded
	ch <- c.inFlight
	ch <- c.duration
}

func (c *attemptCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	all := slices.Clone(c.all)
	c.mu.Unlock()
	for _, s := range all {
		// Read in the order the counts grow (succeeded after its
		// observation, which is after its start), so that no count
		// shows more attempts than one read later: in flight is never
		// negative, nor succeeded more than received.
		// Each group of counts is read in all shards before the next:
		// an attempt counted in one has the earlier counts in all.
		var succeeded, count, started uint64
		var sum time.Duration
		var buckets [len(durationBounds) + 1]uint64
		for i := range s.shards {
			succeeded += s.shards[i].succeeded.Load()
		}
		for i := range s.shards {
			for j := range buckets {
				buckets[j] += s.shards[i].buckets[j].Load()
			}
		}
		for i := range s.shards {
			sum += time.Duration(s.shards[i].sum.Load())
		}
		for i := range s.shards {
			started += s.shards[i].started.Load()
		}
		cumulative := make(map[float64]uint64, len(durationBuckets))
		for i, upper := range durationBuckets {
			count += buckets[i]
			cumulative[upper] = count
		}
		count += buckets[len(durationBuckets)]
		ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(started), s.labels...)
		ch <- prometheus.MustNewConstMetric(c.succeeded, prometheus.CounterValue, float64(succeeded), s.labels...)
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(started-min(count, started)), s.labels...)
		ch <- prometheus.MustNewConstHistogram(c.duration, count, sum.Seconds(), cumulative, s.labels...)
	}
}
