package trigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

// BenchmarkOutputHop measures the app → output binding hop of the Dapr
// HTTP API (POST /v1.0/bindings/{name} over loopback TCP into a memory
// output) against a hand-written net/http server that decodes the same
// body and calls the same output: the cost of Tether's API over the least
// a proxy must do. Each of b.N rounds runs both, each first in turn: 2000
// sequential calls (their p50 latency), then 6000 calls from 4×GOMAXPROCS
// clients (their throughput). It reports the medians over the rounds of
// each figure and of the ratios tether ÷ proxy (p50-ratio: latency, 1 is
// parity, lower is better; rps-ratio: throughput, higher is better), so
// that both sides see the same machine, however loaded.
//
//	go test -run '^$' -bench OutputHop -benchtime 7x ./trigger/
//
//tether:bench benchtime=2x count=3
func BenchmarkOutputHop(b *testing.B) {
	body := []byte(`{"operation":"create","data":{"id":12345,"items":["a","b","c"]},"metadata":{"key":"k"}}`)

	proxyQ := unique(b, "proxy")
	proxyOut, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "bench", Type: "bindings.memory",
		Metadata: map[string]string{"queue": proxyQ}})
	if err != nil {
		b.Fatal(err)
	}
	defer proxyOut.Close()
	proxy := serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Data      json.RawMessage   `json:"data"`
			Metadata  map[string]string `json:"metadata"`
			Operation string            `json:"operation"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := proxyOut.Invoke(r.Context(), &bindings.InvokeRequest{Operation: bindings.Operation(in.Operation), Data: in.Data, Metadata: in.Metadata}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))

	q := unique(b, "tether")
	set := loadComponents(b, memoryComponent("bench", q, map[string]string{"direction": "output"}))
	rt := startWith(b, trigger.Options{Components: set, ControlAddr: "127.0.0.1:0"})

	const perRound = 2000
	clients := 4 * runtime.GOMAXPROCS(0)
	type hop struct {
		url  string
		post func(b *testing.B)
	}
	var hops [2]hop
	for i, url := range []string{proxy + "/v1.0/bindings/bench", "http://" + rt.ControlAddr() + "/v1.0/bindings/bench"} {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
		hops[i] = hop{url: url, post: func(b *testing.B) {
			resp, err := client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				b.Fatalf("%s: %s", url, resp.Status)
			}
		}}
	}
	p50 := func(h hop) time.Duration {
		lat := make([]time.Duration, perRound)
		for i := range lat {
			t0 := time.Now()
			h.post(b)
			lat[i] = time.Since(t0)
		}
		slices.Sort(lat)
		return lat[len(lat)/2]
	}
	rps := func(h hop) float64 {
		var next atomic.Int64
		var wg sync.WaitGroup
		t0 := time.Now()
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= 3*perRound {
					h.post(b)
				}
			}()
		}
		wg.Wait()
		return 3 * perRound / time.Since(t0).Seconds()
	}
	// Warm both: connections, the output's queue.
	p50(hops[0])
	p50(hops[1])
	var proxyP50, tetherP50, proxyRPS, tetherRPS, latRatio, rpsRatio []float64
	b.ResetTimer()
	for i := range b.N {
		// Odd rounds run Tether first: whichever runs second pays the
		// other's garbage collection.
		var pl, tl time.Duration
		var pr, tr float64
		if i%2 == 0 {
			pl, tl = p50(hops[0]), p50(hops[1])
			pr, tr = rps(hops[0]), rps(hops[1])
		} else {
			tl, pl = p50(hops[1]), p50(hops[0])
			tr, pr = rps(hops[1]), rps(hops[0])
		}
		proxyP50, tetherP50 = append(proxyP50, float64(pl.Microseconds())), append(tetherP50, float64(tl.Microseconds()))
		proxyRPS, tetherRPS = append(proxyRPS, pr), append(tetherRPS, tr)
		latRatio, rpsRatio = append(latRatio, tl.Seconds()/pl.Seconds()), append(rpsRatio, tr/pr)
		memory.Reset(proxyQ)
		memory.Reset(q)
	}
	b.StopTimer()
	b.ReportMetric(median(proxyP50), "proxy-p50-µs")
	b.ReportMetric(median(tetherP50), "tether-p50-µs")
	b.ReportMetric(median(latRatio), "p50-ratio")
	b.ReportMetric(median(proxyRPS), "proxy-req/s")
	b.ReportMetric(median(tetherRPS), "tether-req/s")
	b.ReportMetric(median(rpsRatio), "rps-ratio")
	b.ReportMetric(0, "ns/op")
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// serve serves h on a loopback port until the benchmark ends.
func serve(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	b.Cleanup(func() { srv.Close(); wg.Wait() })
	return "http://" + ln.Addr().String()
}
