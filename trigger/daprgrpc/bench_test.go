package daprgrpc_test

import (
	"context"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

// BenchmarkInvokeBindingHop measures the app → output binding hop over
// Dapr's gRPC API with the Go SDK's client into a memory output, the
// counterpart of trigger's BenchmarkOutputHop, against a hand-written
// gRPC server whose InvokeBinding calls the same kind of output and
// nothing else. Each of b.N rounds runs both, each first in turn: 2000
// sequential calls (p50), then 6000 from 4×GOMAXPROCS callers on the
// SDK's one connection (throughput); it reports the medians and the
// medians of the ratios tether ÷ baseline.
//
//	go test -run '^$' -bench InvokeBindingHop -benchtime 10x ./trigger/daprgrpc/
//
//tether:bench benchtime=2x count=3
func BenchmarkInvokeBindingHop(b *testing.B) {
	q := "bench-grpc-" + time.Now().Format("150405.000000")
	set := bindingtest.LoadComponents(b, bindingtest.ComponentYAML("bench", "bindings.memory",
		map[string]string{"queue": q, "direction": "output"}))
	rt, err := trigger.New(trigger.Options{Components: set})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer rt.Shutdown(ctx)
	b.Setenv("DAPR_API_TOKEN", "")
	tether := sdkClient(b, startB(b, rt))

	baseQ := q + "-baseline"
	out, _, err := bindings.OpenOutput(ctx, bindings.Config{Name: "bench", Type: "bindings.memory", Metadata: map[string]string{"queue": baseQ}})
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gs := grpc.NewServer()
	runtimev1pb.RegisterDaprServer(gs, &baselineServer{out: out})
	go func() { _ = gs.Serve(ln) }()
	defer gs.Stop()
	baseline := sdkClient(b, ln.Addr().String())

	req := &dapr.InvokeBindingRequest{Name: "bench", Operation: "create",
		Data: []byte(`{"id":12345,"items":["a","b","c"]}`), Metadata: map[string]string{"key": "k"}}
	const perRound = 2000
	call := func(c dapr.Client) {
		if _, err := c.InvokeBinding(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	p50 := func(c dapr.Client) time.Duration {
		lat := make([]time.Duration, perRound)
		for i := range lat {
			t0 := time.Now()
			call(c)
			lat[i] = time.Since(t0)
		}
		slices.Sort(lat)
		return lat[len(lat)/2]
	}
	rps := func(c dapr.Client) float64 {
		var next atomic.Int64
		var wg sync.WaitGroup
		t0 := time.Now()
		for range 4 * runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= 3*perRound {
					call(c)
				}
			}()
		}
		wg.Wait()
		return 3 * perRound / time.Since(t0).Seconds()
	}
	p50(baseline)
	p50(tether)
	var baseP50, tetherP50, baseRPS, tetherRPS, latRatio, rpsRatio []float64
	b.ResetTimer()
	for i := range b.N {
		var bl, tl time.Duration
		var br, tr float64
		if i%2 == 0 {
			bl, tl = p50(baseline), p50(tether)
			br, tr = rps(baseline), rps(tether)
		} else {
			tl, bl = p50(tether), p50(baseline)
			tr, br = rps(tether), rps(baseline)
		}
		baseP50, tetherP50 = append(baseP50, float64(bl.Microseconds())), append(tetherP50, float64(tl.Microseconds()))
		baseRPS, tetherRPS = append(baseRPS, br), append(tetherRPS, tr)
		latRatio, rpsRatio = append(latRatio, tl.Seconds()/bl.Seconds()), append(rpsRatio, tr/br)
		memory.Reset(q)
		memory.Reset(baseQ)
	}
	b.StopTimer()
	b.ReportMetric(median(baseP50), "baseline-p50-µs")
	b.ReportMetric(median(tetherP50), "tether-p50-µs")
	b.ReportMetric(median(latRatio), "p50-ratio")
	b.ReportMetric(median(baseRPS), "baseline-calls/s")
	b.ReportMetric(median(tetherRPS), "tether-calls/s")
	b.ReportMetric(median(rpsRatio), "rps-ratio")
	b.ReportMetric(0, "ns/op")
}

// baselineServer is the least a gRPC InvokeBinding must do: call the
// output with the request's data and metadata.
type baselineServer struct {
	runtimev1pb.UnimplementedDaprServer
	out bindings.Output
}

func (s *baselineServer) InvokeBinding(ctx context.Context, in *runtimev1pb.InvokeBindingRequest) (*runtimev1pb.InvokeBindingResponse, error) {
	if _, err := s.out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.Operation(in.GetOperation()), Data: in.GetData(), Metadata: in.GetMetadata()}); err != nil {
		return nil, err
	}
	return &runtimev1pb.InvokeBindingResponse{}, nil
}

func sdkClient(b *testing.B, addr string) dapr.Client {
	c, err := dapr.NewClientWithAddress(addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
