package redis_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/trigger"
)

// benchBatch is the batch both consumers read with (XREADGROUP COUNT).
const benchBatch = 64

var benchPayload = []byte(`{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`)

// BenchmarkTrigger compares a raw go-redis consumer loop with the Tether
// runtime on the Redis input, each consuming a stream filled beforehand with
// b.N entries: XREADGROUP COUNT 64, then acknowledge. The raw loop acks each
// batch with one XACK; Tether runs a no-op handler per message on 16 workers
// and acks each message as its handler returns. "driver" is the binding alone
// (one goroutine: Receive, then Ack each). The three run in turn, in rounds,
// so that changes in the machine's load touch them alike; each reports msgs/s,
// and the parent logs the medians and Tether's median per-round ratio to raw.
// Run with -benchtime 100000x (b.N is the messages per run).
func BenchmarkTrigger(b *testing.B) {
	const rounds = 7
	var raw, driver, tether, ratio []float64
	for range rounds {
		// Each sub-benchmark runs twice: once with b.N = 1 to probe, then
		// with the -benchtime count; the last run's rate is the one kept.
		var r, d, t float64
		b.Run("raw", func(b *testing.B) { r = benchRaw(b) })
		b.Run("driver", func(b *testing.B) { d = benchDriver(b) })
		b.Run("tether", func(b *testing.B) { t = benchTether(b) })
		raw, driver, tether = append(raw, r), append(driver, d), append(tether, t)
		ratio = append(ratio, t/r)
	}
	b.Logf("median msgs/s over %d rounds: raw %.0f, driver %.0f, tether %.0f; tether/raw per round: median %.2fx (%.2f)",
		rounds, median(raw), median(driver), median(tether), median(ratio), ratio)
}

// median of the rates of a sub-benchmark's runs (-count).
func median(rates []float64) float64 {
	if len(rates) == 0 {
		return 0
	}
	s := slices.Clone(rates)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchDriver is the binding without the runtime: one goroutine calling
// Receive(64) and Ack for each message.
func benchDriver(b *testing.B) float64 {
	stream := unique("bench-driver")
	fill(b, stream, b.N)
	ctx := context.Background()
	b.ResetTimer()
	in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "in", Type: redis.TypeName, Metadata: map[string]string{
		"redisHost": shared.Addr, "stream": stream, "consumerGroup": "g",
	}})
	if err != nil {
		b.Fatal(err)
	}
	for handled := 0; handled < b.N; {
		msgs, err := in.Receive(ctx, benchBatch)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs {
			if err := in.Ack(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		handled += len(msgs)
	}
	b.StopTimer()
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	in.Close()
	return rate
}

// fill appends n entries to a new stream, as create would write them.
func fill(b *testing.B, stream string, n int) {
	b.Helper()
	ctx := context.Background()
	rc := goredis.NewClient(&goredis.Options{Addr: shared.Addr, DisableIdentity: true})
	defer rc.Close()
	for done := 0; done < n; {
		k := min(n-done, 1000)
		_, err := rc.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for range k {
				p.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"data", benchPayload, "contentType", "application/json"}})
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += k
	}
	b.Cleanup(func() {
		rc := goredis.NewClient(&goredis.Options{Addr: shared.Addr, DisableIdentity: true})
		rc.Del(context.Background(), stream)
		rc.Close()
	})
}

func benchRaw(b *testing.B) float64 {
	stream := unique("bench-raw")
	fill(b, stream, b.N)
	ctx := context.Background()
	b.ResetTimer()
	rc := goredis.NewClient(&goredis.Options{Addr: shared.Addr, DisableIdentity: true})
	defer rc.Close()
	if err := rc.XGroupCreate(ctx, stream, "g", "0").Err(); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 0, benchBatch)
	for handled := 0; handled < b.N; {
		res, err := rc.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: "g", Consumer: "raw", Streams: []string{stream, ">"}, Count: benchBatch, Block: time.Second,
		}).Result()
		if err != nil {
			b.Fatal(err)
		}
		ids = ids[:0]
		for _, m := range res[0].Messages {
			if _, ok := m.Values["data"].(string); !ok {
				b.Fatal("entry without data")
			}
			ids = append(ids, m.ID)
		}
		if err := rc.XAck(ctx, stream, "g", ids...).Err(); err != nil {
			b.Fatal(err)
		}
		handled += len(ids)
	}
	b.StopTimer()
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	return rate
}

func benchTether(b *testing.B) float64 {
	stream := unique("bench-tether")
	fill(b, stream, b.N)
	set := benchComponents(b, fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: in
spec:
  type: bindings.redis
  version: v1
  metadata:
  - {name: redisHost, value: %q}
  - {name: stream, value: %q}
  - {name: consumerGroup, value: g}
  - {name: batchSize, value: "%d"}
  - {name: maxConcurrency, value: "16"}
`, shared.Addr, stream, benchBatch))
	var handled atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	rt, err := trigger.New(trigger.Options{Components: set, Functions: []trigger.Function{{
		Name: "bench", Trigger: "in",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			if handled.Add(1) == n {
				close(done)
			}
			return trigger.Result{}, nil
		},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := rt.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	<-done
	b.StopTimer()
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	// The last acks run after the last handler returned: wait for them
	// before the stream is deleted.
	if err := rt.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	return rate
}

func benchComponents(b *testing.B, yaml string) *component.Set {
	b.Helper()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.yaml"), []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	set, err := component.Load([]string{dir}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return set
}
