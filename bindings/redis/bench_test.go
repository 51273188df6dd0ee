package redis_test

import (
	"context"
	"maps"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/internal/testkit/benchtest"
)

// rawBatch is what the raw loop reads at once (XREADGROUP COUNT): 100, as a
// hand-written consumer would.
const rawBatch = 100

var benchPayload = []byte(`{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`)

// BenchmarkTrigger compares a raw go-redis consumer loop with the Tether
// runtime on the Redis input, each consuming a stream filled beforehand with
// b.N entries. The raw loop reads 100 entries (XREADGROUP COUNT 100) and acks
// each batch with one XACK. Tether runs with its defaults (the type's
// batchSize, 16 workers) and a no-op handler; its acks are batched
// behind the handlers (ackbatch): its time ends when none is pending.
// "driver" is the binding alone (one goroutine: Receive(100), then Ack
// each). "batch" is the runtime with a no-op batch handler taking batches
// of what the raw loop reads (maxBatchSize 100), each item acked on its
// own: the raw loop is the raw batch loop it compares with. The four run in
// turn, in rounds, so that changes in the machine's load touch them alike;
// each reports msgs/s, and the parent logs the medians and the per-round
// ratios to raw (median and range).
//
//	go test -run '^$' -bench 'BenchmarkTrigger$' -benchtime 100000x ./bindings/redis/
//
//tether:bench benchtime=50000x quick=10000x
func BenchmarkTrigger(b *testing.B) {
	benchtest.RoundsOf(b, 11,
		benchtest.Run{Name: "raw", F: benchRaw},
		benchtest.Run{Name: "driver", F: benchDriver},
		benchtest.Run{Name: "tether", F: func(b *testing.B) float64 { return benchTether(b, nil) }},
		benchtest.Run{Name: "batch", F: benchBatch})
}

// BenchmarkBatchSize runs the trigger with batchSize 10 to 250, for the
// type's default (DeliveryDefaults): ratios to batchSize 10.
//
//	go test -run '^$' -bench 'BenchmarkBatchSize$' -benchtime 100000x ./bindings/redis/
func BenchmarkBatchSize(b *testing.B) {
	benchtest.BatchSizes(b, 5, []int{10, 50, 100, 250}, func(b *testing.B, n int) float64 {
		return benchTether(b, map[string]string{"batchSize": strconv.Itoa(n)})
	})
}

// benchDriver is the binding without the runtime: one goroutine calling
// Receive(100) and Ack for each message.
func benchDriver(b *testing.B) float64 {
	stream := unique("bench-driver")
	fill(b, stream, b.N)
	return benchtest.Driver(b, bindings.Config{Name: "in", Type: redis.TypeName, Metadata: map[string]string{
		"redisHost": shared.Addr, "stream": stream, "consumerGroup": "g",
	}}, rawBatch, acked(b, stream))
}

// acked is the benchmarks' Settled: true once group g of stream has no entry
// pending (every ack written). The input's Close waits for a blocked
// XREADGROUP (up to a second), which is no work, so it is not timed.
func acked(b *testing.B, stream string) benchtest.Option {
	rc := goredis.NewClient(&goredis.Options{Addr: shared.Addr, DisableIdentity: true})
	b.Cleanup(func() { rc.Close() })
	return benchtest.Settled(func() bool {
		p, err := rc.XPending(context.Background(), stream, "g").Result()
		if err != nil {
			b.Fatal(err)
		}
		return p.Count == 0
	})
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
	ids := make([]string, 0, rawBatch)
	for handled := 0; handled < b.N; {
		res, err := rc.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: "g", Consumer: "raw", Streams: []string{stream, ">"}, Count: rawBatch, Block: time.Second,
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
	return benchtest.Rate(b)
}

func benchTether(b *testing.B, delivery map[string]string) float64 {
	stream := unique("bench-tether")
	fill(b, stream, b.N)
	md := map[string]string{"redisHost": shared.Addr, "stream": stream, "consumerGroup": "g"}
	maps.Copy(md, delivery)
	return benchtest.Trigger(b, bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.redis", md)), acked(b, stream))
}

// benchBatch is the runtime with a no-op batch handler, in batches of what
// the raw loop reads.
func benchBatch(b *testing.B) float64 {
	stream := unique("bench-batch")
	fill(b, stream, b.N)
	md := map[string]string{"redisHost": shared.Addr, "stream": stream, "consumerGroup": "g", "maxBatchSize": strconv.Itoa(rawBatch)}
	return benchtest.BatchTrigger(b, bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.redis", md)), acked(b, stream))
}
