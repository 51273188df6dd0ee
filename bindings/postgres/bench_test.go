package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tetherfn/tether/bindings"
	components "github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/bindings/postgres"
	"github.com/tetherfn/tether/trigger"
)

// benchBatch is the batch both consumers claim at once.
const benchBatch = 64

var benchPayload = []byte(`{"id":"o-12345","customer":"c-42","amount":99.5,"items":3}`)

// BenchmarkTrigger compares a raw pgx consumer loop with the Tether runtime
// on the queue input, each consuming a queue table filled beforehand with b.N
// rows: claim 64 rows (the same SKIP LOCKED lease statement), then delete
// them. The raw loop deletes each batch with one statement; Tether runs a
// no-op handler per message on 16 workers and acks each message as its
// handler returns. "driver" is the binding alone (one goroutine: Receive, then
// Ack each). The three run in turn, in rounds, so that changes in the
// machine's load touch them alike; each reports msgs/s, and the parent logs
// the medians and Tether's median per-round ratio to raw. Run with
// -benchtime 20000x (b.N is the rows per run).
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

func median(rates []float64) float64 {
	s := slices.Clone(rates)
	slices.Sort(s)
	return s[len(s)/2]
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
	return rate(b)
}

func benchDriver(b *testing.B) float64 {
	table := fill(b, b.N)
	ctx := context.Background()
	b.ResetTimer()
	in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "in", Type: postgres.TypeName,
		Metadata: map[string]string{"connectionString": connString, "table": table}})
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
	in.Close()
	return rate(b)
}

func benchTether(b *testing.B) float64 {
	table := fill(b, b.N)
	dir := b.TempDir()
	yaml := fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: in
spec:
  type: bindings.postgresql
  version: v1
  metadata:
  - {name: connectionString, value: %q}
  - {name: table, value: %q}
  - {name: batchSize, value: "%d"}
  - {name: maxConcurrency, value: "16"}
`, connString, table, benchBatch)
	if err := os.WriteFile(filepath.Join(dir, "in.yaml"), []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	set, err := components.Load([]string{dir}, nil)
	if err != nil {
		b.Fatal(err)
	}
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
	r := rate(b)
	// The last acks run after the last handler returned: wait for them
	// before the table is dropped.
	if err := rt.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	return r
}

func rate(b *testing.B) float64 {
	r := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(r, "msgs/s")
	return r
}
