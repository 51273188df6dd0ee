package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/postgres"
)

// CountQuery counts what the queue holds: sent and not yet acked.
func TestCountQueryCountsUnackedMessages(t *testing.T) {
	ctx := testContext(t)
	table := unique("count")
	md := map[string]string{"table": table}
	out, _, err := bindings.OpenOutput(ctx, bindings.Config{Name: "out", Type: postgres.TypeName, Metadata: component(md)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for range 3 {
		if _, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	q, err := postgres.CountQuery(table)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), connString)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx, q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n != 3 {
		t.Errorf("%s = %d, want 3", q, n)
	}
	if _, err := postgres.CountQuery(`a"; drop table x; --`); err == nil {
		t.Error("a table name that is not an identifier is accepted")
	}
}
