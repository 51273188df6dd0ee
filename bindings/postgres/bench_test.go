package postgres_test

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/postgres"
	"github.com/tetherfn/tether/internal/testkit/benchtest"
)

// benchBatch is the batch every consumer claims at once: the type's default.
var benchBatch = benchtest.DefaultBatchSize(&postgres.Type)

var benchPayload = []byte(`{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`)

// BenchmarkTrigger compares a raw pgx consumer loop with the Tether runtime
// on the queue input, each consuming a queue table filled beforehand with b.N
// rows: claim the type's default batchSize of rows (the same SKIP LOCKED
// lease statement), then delete them. The raw loop deletes each batch with
// one statement; Tether runs with its defaults, a no-op handler per message
// on 16 workers, and deletes acked rows in batches behind the handlers
// (ackbatch): its time ends when the table is empty. "driver" is the binding
// alone (one goroutine: Receive, then Ack each). "batch" is the runtime
// with a no-op batch handler taking batches of what the raw loop claims
// (maxBatchSize benchBatch), each row acked on its own: the raw loop is the
// raw batch loop it compares with. The four run in turn, in rounds, so that
// changes in the machine's load touch them alike; each reports msgs/s, and
// the parent logs the medians and the per-round ratios to raw (median and
// range).
//
// Each side's time includes its start and its stop, and the runtime's are
// the dearer. A connection to PostgreSQL here takes about 20 ms (the server
// forks a backend), and each side waits for one before its first claim;
// the runtime also opens the component's output beside its input (at
// once), and after the last handler returns it waits for its last deletes
// (10–20 ms). Measured on 20,000 rows (about 0.5 s), those costs were 4–8%
// of the runtime's time, more than the few percent they may take from a
// ratio that stands for the steady rate: a full run reads 60,000 rows.
//
//	go test -run '^$' -bench 'BenchmarkTrigger$' -benchtime 60000x -v ./bindings/postgres/
//
//tether:bench benchtime=60000x quick=3000x
func BenchmarkTrigger(b *testing.B) {
	benchtest.RoundsOf(b, 7,
		benchtest.Run{Name: "raw", F: benchRaw},
		benchtest.Run{Name: "driver", F: benchDriver},
		benchtest.Run{Name: "tether", F: func(b *testing.B) float64 { return benchTether(b, nil) }},
		benchtest.Run{Name: "batch", F: benchBatchHandler})
}

// BenchmarkBatchSize runs the trigger with batchSize 10 to 250, for the
// type's default (DeliveryDefaults): ratios to batchSize 10.
//
//	go test -run '^$' -bench 'BenchmarkBatchSize$' -benchtime 20000x -v ./bindings/postgres/
func BenchmarkBatchSize(b *testing.B) {
	benchtest.BatchSizes(b, 5, []int{10, 50, 100, 250}, func(b *testing.B, n int) float64 {
		return benchTether(b, map[string]string{"batchSize": strconv.Itoa(n)})
	})
}

// empty is the benchmarks' Settled: true once table holds no row (every
// acked row deleted).
func empty(b *testing.B, table string) benchtest.Option {
	conn, err := pgx.Connect(context.Background(), connString)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	return benchtest.Settled(func() bool {
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n == 0
	})
}

// fill makes a queue table (as the binding does) holding n rows as create
// writes them, and returns its name.
func fill(b *testing.B, n int) string {
	b.Helper()
	ctx := context.Background()
	table := unique("bench")
	out, _, err := bindings.OpenOutput(ctx, bindings.Config{Name: "fill", Type: postgres.TypeName,
		Metadata: map[string]string{"connectionString": connString, "table": table}})
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	req := &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: benchPayload, ContentType: "application/json"}
	if _, err := out.Invoke(ctx, req); err != nil { // makes the table
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	rows := make([][]any, n-1)
	for i := range rows {
		rows[i] = []any{benchPayload, "application/json", map[string]string{}}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"data", "content_type", "metadata"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+table); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if conn, err := pgx.Connect(context.Background(), connString); err == nil {
			conn.Exec(context.Background(), "DROP TABLE "+table)
			conn.Close(context.Background())
		}
	})
	return table
}

func benchRaw(b *testing.B) float64 {
	table := fill(b, b.N)
	ctx := context.Background()
	b.ResetTimer()
	pool, err := pgxpool.New(ctx, connString)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	claim := fmt.Sprintf(`WITH next AS (
	SELECT id FROM %[1]s WHERE available_at <= now() ORDER BY available_at, id LIMIT %[2]d FOR UPDATE SKIP LOCKED
)
UPDATE %[1]s AS q SET available_at = now() + interval '30 seconds', attempts = q.attempts + 1
FROM next WHERE q.id = next.id
RETURNING q.id, q.key, q.data, q.content_type, q.metadata, q.attempts, q.created_at`, table, benchBatch)
	ids := make([]int64, 0, benchBatch)
	for handled := 0; handled < b.N; {
		rows, err := pool.Query(ctx, claim)
		if err != nil {
			b.Fatal(err)
		}
		ids = ids[:0]
		for rows.Next() {
			var (
				id       int64
				key, ct  string
				data     []byte
				md       map[string]any
				attempts int32
				created  any
			)
			if err := rows.Scan(&id, &key, &data, &ct, &md, &attempts, &created); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		if _, err := pool.Exec(ctx, "DELETE FROM "+table+" WHERE id = ANY($1)", ids); err != nil {
			b.Fatal(err)
		}
		handled += len(ids)
	}
	b.StopTimer()
	return benchtest.Rate(b)
}

func benchDriver(b *testing.B) float64 {
	table := fill(b, b.N)
	return benchtest.Driver(b, bindings.Config{Name: "in", Type: postgres.TypeName,
		Metadata: map[string]string{"connectionString": connString, "table": table}}, benchBatch, empty(b, table))
}

func benchTether(b *testing.B, delivery map[string]string) float64 {
	table := fill(b, b.N)
	md := map[string]string{"connectionString": connString, "table": table}
	maps.Copy(md, delivery)
	return benchtest.Trigger(b, bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.postgresql", md)), empty(b, table))
}

// benchBatchHandler is the runtime with a no-op batch handler, in batches
// of what the raw loop claims.
func benchBatchHandler(b *testing.B) float64 {
	table := fill(b, b.N)
	md := map[string]string{"connectionString": connString, "table": table, "maxBatchSize": strconv.Itoa(benchBatch)}
	return benchtest.BatchTrigger(b, bindingtest.LoadComponents(b, bindingtest.ComponentYAML("in", "bindings.postgresql", md)), empty(b, table))
}
