package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// baseURL is the shared server's test database (trust auth); every run works
// in a schema of its own, dropped at the end.
func baseURL() string {
	if u := os.Getenv("TETHER_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// connString points at this run's schema.
var connString string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	schema := unique("tether_test")
	conn, err := pgx.Connect(ctx, baseURL())
	if err != nil {
		fmt.Fprintln(os.Stderr, "postgres test server:", err)
		return 1
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		fmt.Fprintln(os.Stderr, "create schema:", err)
		return 1
	}
	conn.Close(ctx)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, baseURL()); err == nil {
			conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(ctx)
		}
	}()
	connString = baseURL() + "&search_path=" + schema
	return m.Run()
}

// unique returns name with a random suffix, usable as an SQL identifier.
func unique(name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return name + "_" + hex.EncodeToString(b[:])
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
