package redis_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/internal/testkit/benchtest"
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
//
//tether:bench benchtime=50000x quick=10000x
func BenchmarkTrigger(b *testing.B) {
	benchtest.Rounds(b, 7, benchRaw, benchDriver, benchTether)
}

// benchDriver is the binding without the runtime: one goroutine calling
// Receive(64) and Ack for each message.
func benchDriver(b *testing.B) float64 {
	stream := unique("bench-driver")
	fill(b, stream, b.N)
	return benchtest.Driver(b, bindings.Config{Name: "in", Type: redis.TypeName, Metadata: map[string]string{
		"redisHost": shared.Addr, "stream": stream, "consumerGroup": "g",
	}}, benchBatch)
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
	return benchtest.Rate(b)
}

func benchTether(b *testing.B) float64 {
	stream := unique("bench-tether")
	fill(b, stream, b.N)
	set := bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.redis", map[string]string{"redisHost": shared.Addr, "stream": stream, "consumerGroup": "g", "batchSize": strconv.Itoa(benchBatch), "maxConcurrency": "16"}))
	return benchtest.Trigger(b, set)
}
