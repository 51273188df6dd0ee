package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	tetherhttp "github.com/tetherfn/tether/bindings/http"
	"github.com/tetherfn/tether/internal/testkit/benchtest"
	"github.com/tetherfn/tether/trigger"
)

type benchOrder struct {
	ID       string  `json:"id"`
	Customer string  `json:"customer"`
	Amount   float64 `json:"amount"`
	Items    int     `json:"items"`
}

var benchPayload = []byte(`{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`)

// startNetHTTP serves the yardstick: a plain net/http handler that reads
// the body, decodes the JSON and answers 200 "ok".
func startNetHTTP(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			nethttp.Error(w, err.Error(), 400)
			return
		}
		var o benchOrder
		if err := json.Unmarshal(body, &o); err != nil {
			nethttp.Error(w, err.Error(), nethttp.StatusUnprocessableEntity)
			return
		}
		w.Write([]byte("ok"))
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/hook"
}

// startTether serves the same through the runtime: request → webhook input
// → dispatcher → delivery middleware → handler decoding the JSON → reply
// 200 "ok".
func startTether(b *testing.B) string {
	set := bindingtest.LoadComponents(b, bindingtest.ComponentYAML("hook", tetherhttp.TypeName, map[string]string{"direction": "input", "maxConcurrency": "16"}))
	base := startRuntime(b, set, trigger.Function{Name: "hook", Trigger: "hook",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			var o benchOrder
			if err := json.Unmarshal(m.Data, &o); err != nil {
				return trigger.Result{}, err
			}
			return trigger.Result{Data: []byte("ok")}, nil
		}})
	return base + "/hook"
}

// loader posts the payload from a number of goroutines, each on its own
// kept-alive loopback connection.
type loader struct {
	url     string
	clients int
	client  *nethttp.Client
}

func newLoader(b *testing.B, url string, clients int) *loader {
	tr := nethttp.DefaultTransport.(*nethttp.Transport).Clone()
	tr.MaxIdleConnsPerHost = clients
	b.Cleanup(tr.CloseIdleConnections)
	l := &loader{url: url, clients: clients, client: &nethttp.Client{Transport: tr}}
	if err := l.post(); err != nil { // connect and warm up
		b.Fatal(err)
	}
	return l
}

func (l *loader) post() error {
	resp, err := l.client.Post(l.url, "application/json", bytes.NewReader(benchPayload))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: status %d", l.url, resp.StatusCode)
	}
	return nil
}

// run sends n requests and returns how long they took.
func (l *loader) run(b *testing.B, n int) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	var once sync.Once
	var failure error
	per, extra := n/l.clients, n%l.clients
	for i := range l.clients {
		count := per
		if i < extra {
			count++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range count {
				if err := l.post(); err != nil {
					once.Do(func() { failure = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if failure != nil {
		b.Fatal(failure)
	}
	return time.Since(start)
}

// BenchmarkWebhook measures the webhook trigger and the plain net/http
// handler in the same run, through the same kind of loopback client, in
// alternating rounds so that a machine busy with other work slows both
// alike. One op is one request to each; the metrics are each side's
// requests per second and their ratio (tether/net-http), and each side's
// process CPU time per request (client's and server's), which a loaded
// machine changes less than the rates:
//
//	go test -run '^$' -bench Webhook -benchtime 20000x ./bindings/http/
//
//tether:bench benchtime=5000x quick=2000x count=5
func BenchmarkWebhook(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			raw := newLoader(b, startNetHTTP(b), clients)
			tether := newLoader(b, startTether(b), clients)
			const round = 250
			var rawTime, tetherTime, rawCPU, tetherCPU time.Duration
			run := func(l *loader, elapsed, cpu *time.Duration, n int) {
				c0 := benchtest.ProcessCPU()
				*elapsed += l.run(b, n)
				*cpu += benchtest.ProcessCPU() - c0
			}
			b.ReportAllocs()
			b.ResetTimer()
			for done, i := 0, 0; done < b.N; i++ {
				n := min(round, b.N-done)
				if i%2 == 0 {
					run(raw, &rawTime, &rawCPU, n)
					run(tether, &tetherTime, &tetherCPU, n)
				} else {
					run(tether, &tetherTime, &tetherCPU, n)
					run(raw, &rawTime, &rawCPU, n)
				}
				done += n
			}
			b.StopTimer()
			b.ReportMetric(float64(rawCPU.Microseconds())/float64(b.N), "net-http-cpu-µs/req")
			b.ReportMetric(float64(tetherCPU.Microseconds())/float64(b.N), "tether-cpu-µs/req")
			rawRate := float64(b.N) / rawTime.Seconds()
			tetherRate := float64(b.N) / tetherTime.Seconds()
			b.ReportMetric(rawRate, "net-http-req/s")
			b.ReportMetric(tetherRate, "tether-req/s")
			b.ReportMetric(tetherRate/rawRate, "ratio")
		})
	}
}

// BenchmarkOutput measures the typed client of an output (Client.Post,
// through OpenOutput's checks) against a raw net/http client posting the
// same body to the same loopback server, one goroutine each, in
// alternating rounds so that the machine's load touches both alike. The
// server answers with a typical API's header. Metrics: each side's calls
// per second, their ratio (tether/net-http), each side's median call
// latency (p50) and allocations per call.
//
//	go test -run '^$' -bench 'BenchmarkOutput$' -benchtime 20000x ./bindings/http/
//
//tether:bench benchtime=10000x quick=2000x count=5
func BenchmarkOutput(b *testing.B) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Request-Id", "9f1c2a7e-5b1d-4e2f-8c3a-1d2e3f4a5b6c")
		h.Set("X-Ratelimit-Remaining", "99")
		w.Write([]byte(`{"ok":true}`))
	}))
	b.Cleanup(srv.Close)
	out, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "api", Type: tetherhttp.TypeName,
		Metadata: map[string]string{"url": srv.URL}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { out.Close() })
	typ, _ := bindings.Lookup(tetherhttp.TypeName)
	var c tetherhttp.Client
	if err := c.BindOutput(bindings.OutputBinding{Name: "api", Type: typ, Output: out}); err != nil {
		b.Fatal(err)
	}
	raw := &nethttp.Client{Transport: nethttp.DefaultTransport.(*nethttp.Transport).Clone()}
	b.Cleanup(raw.CloseIdleConnections)
	ctx := context.Background()
	tetherCall := func() error {
		resp, err := c.Post(ctx, "/orders", benchPayload, tetherhttp.ContentType("application/json"))
		if err == nil && (resp.StatusCode != 200 || len(resp.Body) == 0) {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	}
	rawCall := func() error {
		req, err := nethttp.NewRequestWithContext(ctx, "POST", srv.URL+"/orders", bytes.NewReader(benchPayload))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := raw.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && (resp.StatusCode != 200 || len(body) == 0) {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	}
	type side struct {
		call      func() error
		elapsed   time.Duration
		latencies []time.Duration
		allocs    uint64
	}
	sides := []*side{{call: rawCall}, {call: tetherCall}}
	for _, s := range sides { // connect and warm up
		if err := s.call(); err != nil {
			b.Fatal(err)
		}
	}
	run := func(s *side, n int) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		start := time.Now()
		for range n {
			t0 := time.Now()
			if err := s.call(); err != nil {
				b.Fatal(err)
			}
			s.latencies = append(s.latencies, time.Since(t0))
		}
		s.elapsed += time.Since(start)
		runtime.ReadMemStats(&ms)
		s.allocs += ms.Mallocs - before
	}
	const round = 500
	b.ResetTimer()
	for done, i := 0, 0; done < b.N; i++ {
		n := min(round, b.N-done)
		if i%2 == 0 {
			run(sides[0], n)
			run(sides[1], n)
		} else {
			run(sides[1], n)
			run(sides[0], n)
		}
		done += n
	}
	b.StopTimer()
	p50 := func(s *side) float64 {
		slices.Sort(s.latencies)
		return float64(s.latencies[len(s.latencies)/2].Microseconds())
	}
	rawRate, tetherRate := float64(b.N)/sides[0].elapsed.Seconds(), float64(b.N)/sides[1].elapsed.Seconds()
	b.ReportMetric(rawRate, "net-http-calls/s")
	b.ReportMetric(tetherRate, "tether-calls/s")
	b.ReportMetric(tetherRate/rawRate, "ratio")
	b.ReportMetric(p50(sides[0]), "net-http-p50-µs")
	b.ReportMetric(p50(sides[1]), "tether-p50-µs")
	b.ReportMetric(float64(sides[0].allocs)/float64(b.N), "net-http-allocs/call")
	b.ReportMetric(float64(sides[1].allocs)/float64(b.N), "tether-allocs/call")
}
