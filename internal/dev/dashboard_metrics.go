package dev

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The Metrics page: each function's Prometheus /metrics, scraped when the
// page asks. Rates and quantiles are over the time since the previous scrape
// (the page asks every 2 s); the first scrape gives totals since start.

// fnMetrics is one function's figures.
type fnMetrics struct {
	Function string  `json:"function"`
	Binding  string  `json:"binding"`
	Received float64 `json:"received"`
	// Succeeded, Failed, Retried and DeadLettered count attempts since the
	// process started (a restart starts them again).
	Succeeded    float64 `json:"succeeded"`
	Failed       float64 `json:"failed"`
	Retried      float64 `json:"retried"`
	DeadLettered float64 `json:"deadLettered"`
	InFlight     float64 `json:"inFlight"`
	// PerSecond is attempts started per second over the window.
	PerSecond float64 `json:"perSecond"`
	// P50Ms and P99Ms are handler times over the window (or since start
	// when nothing ran in it), from the histogram's buckets; -1 when no
	// handler ran.
	P50Ms   float64 `json:"p50Ms"`
	P99Ms   float64 `json:"p99Ms"`
	Window  float64 `json:"windowSeconds"`
	PID     int     `json:"pid"`
	Error   string  `json:"error,omitempty"`
	buckets []bucket
	at      time.Time
}

type bucket struct {
	le    float64
	count float64
}

// scrapes keeps each process's previous scrape, for rates.
type scrapes struct {
	mu   sync.Mutex
	last map[int]*fnMetrics // by pid: a restarted function starts anew
}

func (s *server) scrapeAll(ctx context.Context, fns []fnView) map[string]*fnMetrics {
	s.mu.Lock()
	procs := map[string]*process{}
	for n, p := range s.procs {
		procs[n] = p
	}
	s.mu.Unlock()
	out := map[string]*fnMetrics{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, f := range fns {
		p := procs[f.Name]
		if p == nil {
			continue
		}
		wg.Go(func() {
			m := scrape(ctx, p, f)
			mu.Lock()
			out[f.Name] = m
			mu.Unlock()
		})
	}
	wg.Wait()
	s.scrapes.mu.Lock()
	defer s.scrapes.mu.Unlock()
	if s.scrapes.last == nil {
		s.scrapes.last = map[int]*fnMetrics{}
	}
	for _, m := range out {
		if m.Error != "" {
			continue
		}
		prev := s.scrapes.last[m.PID]
		m.quantiles(prev)
		s.scrapes.last[m.PID] = m
	}
	// Forget the processes gone.
	for pid := range s.scrapes.last {
		if !slices.ContainsFunc(fns, func(f fnView) bool { return procs[f.Name] != nil && procs[f.Name].cmd.Process.Pid == pid }) {
			delete(s.scrapes.last, pid)
		}
	}
	return out
}

func scrape(ctx context.Context, p *process, f fnView) *fnMetrics {
	m := &fnMetrics{Function: f.Name, Binding: f.Trigger.Name, PID: p.cmd.Process.Pid, at: time.Now(), P50Ms: -1, P99Ms: -1}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/metrics", nil)
	if err != nil {
		m.Error = err.Error()
		return m
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.Error = err.Error()
		return m
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		m.Error = fmt.Sprintf("/metrics: %s", resp.Status)
		return m
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		m.Error = "/metrics: " + err.Error()
		return m
	}
	m.read(families, f.Name)
	return m
}

// read sums the families' series of function fn.
func (m *fnMetrics) read(families map[string]*dto.MetricFamily, fn string) {
	mine := func(name string) []*dto.Metric {
		fam := families[name]
		if fam == nil {
			return nil
		}
		var out []*dto.Metric
		for _, s := range fam.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "function" && l.GetValue() == fn {
					out = append(out, s)
				}
			}
		}
		return out
	}
	sum := func(name string) float64 {
		var v float64
		for _, s := range mine(name) {
			v += s.GetCounter().GetValue() + s.GetGauge().GetValue()
		}
		return v
	}
	m.Received = sum("tether_messages_received_total")
	m.Succeeded = sum("tether_messages_succeeded_total")
	m.Failed = sum("tether_messages_failed_total")
	m.Retried = sum("tether_messages_retried_total")
	m.DeadLettered = sum("tether_messages_dead_lettered_total")
	m.InFlight = sum("tether_messages_in_flight")
	for _, s := range mine("tether_handler_duration_seconds") {
		h := s.GetHistogram()
		for i, b := range h.GetBucket() {
			if i >= len(m.buckets) {
				m.buckets = append(m.buckets, bucket{le: b.GetUpperBound()})
			}
			m.buckets[i].count += float64(b.GetCumulativeCount())
		}
		if n := len(h.GetBucket()); n == len(m.buckets) {
			m.buckets = append(m.buckets, bucket{le: math.Inf(1)})
		}
		m.buckets[len(m.buckets)-1].count += float64(h.GetSampleCount())
	}
}

// quantiles sets the rate and the quantiles over the window since prev.
func (m *fnMetrics) quantiles(prev *fnMetrics) {
	b := m.buckets
	if prev != nil && len(prev.buckets) == len(b) {
		m.Window = m.at.Sub(prev.at).Seconds()
		if m.Window > 0 {
			m.PerSecond = (m.Received - prev.Received) / m.Window
		}
		delta := make([]bucket, len(b))
		for i := range b {
			delta[i] = bucket{le: b[i].le, count: b[i].count - prev.buckets[i].count}
		}
		if len(delta) > 0 && delta[len(delta)-1].count > 0 {
			b = delta
		} else {
			m.Window = 0 // nothing ran in the window: since start
		}
	}
	m.P50Ms, m.P99Ms = quantile(b, 0.5)*1000, quantile(b, 0.99)*1000
	if m.P50Ms < 0 {
		m.P50Ms, m.P99Ms = -1, -1
	}
}

// quantile estimates the q-quantile of cumulative buckets (the last +Inf)
// by linear interpolation in the bucket it falls in, as Prometheus's
// histogram_quantile does; -1 when they are empty.
func quantile(b []bucket, q float64) float64 {
	if len(b) == 0 || b[len(b)-1].count <= 0 {
		return -1
	}
	rank := q * b[len(b)-1].count
	lower, below := 0.0, 0.0
	for i, x := range b {
		if x.count >= rank {
			if math.IsInf(x.le, 1) {
				if i == 0 {
					return 0
				}
				return b[i-1].le // beyond the last bound: the last bound
			}
			if x.count == below {
				return x.le
			}
			return lower + (x.le-lower)*(rank-below)/(x.count-below)
		}
		lower, below = x.le, x.count
	}
	return b[len(b)-1].le
}

func (s *server) serveMetricsAPI(w http.ResponseWriter, r *http.Request) {
	fns := s.topology(r.Context())
	m := s.scrapeAll(r.Context(), fns)
	out := []*fnMetrics{}
	for _, f := range fns {
		if fm := m[f.Name]; fm != nil {
			out = append(out, fm)
		} else {
			out = append(out, &fnMetrics{Function: f.Name, Binding: f.Trigger.Name, Error: "not running", P50Ms: -1, P99Ms: -1})
		}
	}
	writeJSON(w, out)
}
