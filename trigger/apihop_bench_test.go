package trigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/trigger"
)

// BenchmarkOutputHop measures the app → output binding hop of the Dapr
// HTTP API (POST /v1.0/bindings/{name} over loopback TCP into a memory
// output) against a hand-written net/http server that decodes the same
// body and calls the same output: the cost of Tether's API over the least
// a proxy must do. Sub-benchmarks: seq (one client; p50-ns reported) and
// par (GOMAXPROCS clients; ns/op is the inverse of throughput).
//
//	go test -run '^$' -bench OutputHop -benchtime 20000x ./trigger/
func BenchmarkOutputHop(b *testing.B) {
	body := []byte(`{"operation":"create","data":{"id":12345,"items":["a","b","c"]},"metadata":{"key":"k"}}`)

	proxyOut, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "bench", Type: "bindings.memory",
		Metadata: map[string]string{"queue": unique(b, "proxy")}})
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

	set := loadComponents(b, memoryComponent("bench", unique(b, "tether"), map[string]string{"direction": "output"}))
	rt := startWith(b, trigger.Options{Components: set, ControlAddr: "127.0.0.1:0"})

	for _, target := range []struct{ name, url string }{
		{"proxy", proxy + "/v1.0/bindings/bench"},
		{"tether", "http://" + rt.ControlAddr() + "/v1.0/bindings/bench"},
	} {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		post := func() {
			resp, err := client.Post(target.url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				b.Fatalf("%s: %s", target.name, resp.Status)
			}
		}
		b.Run(target.name+"/seq", func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				post()
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		})
		b.Run(target.name+"/par", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					post()
				}
			})
		})
	}
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
