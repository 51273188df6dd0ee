package bulkinsert_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/examples/bulkinsert"
	"github.com/tetherfn/tether/functions/fntest"
	"github.com/tetherfn/tether/trigger"
)

const dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// table creates a table of its own for the test, like schema.sql's, and
// points the function at it (READINGS_TABLE); it is dropped at the end.
func table(t *testing.T) (*pgx.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	schema, err := os.ReadFile("schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("postgres: %v (bash .ci/services.sh starts it)", err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	if _, err := db.Exec(ctx, string(schema)); err != nil {
		t.Fatal(err)
	}
	name := "tether_test_readings_" + strconv.FormatUint(rand.Uint64(), 36)
	if _, err := db.Exec(ctx, `CREATE TABLE `+name+` (LIKE tether_example_readings INCLUDING ALL)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec(context.Background(), `DROP TABLE `+name) })
	t.Setenv("READINGS_TABLE", name)
	return db, name
}

// stored returns the ids in the table, sorted.
func stored(t *testing.T, db *pgx.Conn, table string) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT id FROM `+table+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// One batch through the generated handler, on the real database: the good
// readings are stored with one INSERT, a redelivered one once; an invalid
// reading and one outside the table's range are dead-lettered on their own.
func TestBatchOnPostgres(t *testing.T) {
	db, name := table(t)
	h := fntest.New(t, bulkinsert.StoreReadingsFunction(),
		fntest.Open("readings-db", bindings.Config{Type: "bindings.postgresql",
			Metadata: map[string]string{"connectionString": dsn}}))

	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	outs := h.SendBatch(
		bulkinsert.Reading{ID: "r-1", Sensor: "s-1", Value: 20.5, At: at},
		bulkinsert.Reading{ID: "r-2", Sensor: "s-1", Value: 21},
		bulkinsert.Reading{ID: "r-3", Value: 22},                  // no sensor
		bulkinsert.Reading{ID: "r-4", Sensor: "s-2", Value: 999},  // out of range
		bulkinsert.Reading{ID: "r-1", Sensor: "s-1", Value: 20.5}, // again
		bulkinsert.Reading{ID: "r-5", Sensor: "s-2", Value: -3},
	)
	want := []trigger.Action{trigger.Acked, trigger.Acked, trigger.DeadLettered, trigger.DeadLettered, trigger.Acked, trigger.Acked}
	for i, o := range outs {
		if o.Action != want[i] {
			t.Errorf("reading %d: %v, want %v", i, o, want[i])
		}
	}
	if !errors.Is(outs[2].Err, bulkinsert.ErrInvalid) {
		t.Errorf("reading without a sensor failed with %v, want %v", outs[2].Err, bulkinsert.ErrInvalid)
	}
	if got := stored(t, db, name); !slices.Equal(got, []string{"r-1", "r-2", "r-5"}) {
		t.Errorf("stored %v, want r-1, r-2, r-5", got)
	}
	var got time.Time
	if err := db.QueryRow(context.Background(), `SELECT at FROM `+name+` WHERE id = 'r-1'`).Scan(&got); err != nil || !got.Equal(at) {
		t.Errorf("r-1 measured at %v (%v), want %v", got, err, at)
	}
	if dl := h.Output(fntest.DeadLetterComponent).Sent(); len(dl) != 2 {
		t.Errorf("%d dead letters, want 2", len(dl))
	}
}

// A failure that is not the table refusing a row (here, no such table)
// fails every reading, for retry: nothing is dead-lettered for it.
func TestOtherFailuresRetryAll(t *testing.T) {
	t.Setenv("READINGS_TABLE", "tether_test_no_such_table")
	h := fntest.New(t, bulkinsert.StoreReadingsFunction(),
		fntest.Open("readings-db", bindings.Config{Type: "bindings.postgresql",
			Metadata: map[string]string{"connectionString": dsn}}))
	for i, o := range h.SendBatch(bulkinsert.Reading{ID: "r-1", Sensor: "s"}, bulkinsert.Reading{ID: "r-2", Sensor: "s"}) {
		if o.Action != trigger.RetryLater {
			t.Errorf("reading %d: %v, want a retry", i, o)
		}
	}
}
