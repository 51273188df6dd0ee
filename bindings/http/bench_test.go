package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	tetherhttp "github.com/tetherfn/tether/bindings/http"
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
// requests per second and their ratio (tether/net-http):
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
			var rawTime, tetherTime time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for done, i := 0, 0; done < b.N; i++ {
				n := min(round, b.N-done)
				if i%2 == 0 {
					rawTime += raw.run(b, n)
					tetherTime += tether.run(b, n)
				} else {
					tetherTime += tether.run(b, n)
					rawTime += raw.run(b, n)
				}
				done += n
			}
			b.StopTimer()
			rawRate := float64(b.N) / rawTime.Seconds()
			tetherRate := float64(b.N) / tetherTime.Seconds()
			b.ReportMetric(rawRate, "net-http-req/s")
			b.ReportMetric(tetherRate, "tether-req/s")
			b.ReportMetric(tetherRate/rawRate, "ratio")
		})
	}
}
