package postgres_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/postgres"
)

type item struct {
	ID   int64     `json:"id"`
	Name string    `json:"name"`
	Blob []byte    `json:"blob"`
	At   time.Time `json:"at"`
}

// hidden hides the driver behind an output, as an emulator's would be: the
// client must then go through Invoke.
type hidden struct{ bindings.Output }

func bindClient(t *testing.T, out bindings.Output) *postgres.Client {
	t.Helper()
	typ, _ := bindings.Lookup(postgres.TypeName)
	c := new(postgres.Client)
	if err := c.BindOutput(bindings.OutputBinding{Name: "db", Type: typ, Output: out}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClient(t *testing.T) {
	out := openOutput(t, nil)
	for _, path := range []struct {
		name  string
		out   bindings.Output
		bytes bool // []byte arguments work
	}{{"driver", out, true}, {"invoke", hidden{out}, false}} {
		t.Run(path.name, func(t *testing.T) {
			ctx := testContext(t)
			c := bindClient(t, path.out)
			tbl := unique("client")
			if _, err := c.Exec(ctx, `CREATE TABLE `+tbl+` (id bigint, name text, blob bytea, at timestamptz)`); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
			blob := []byte{0, 1, 0xff}
			var arg any = blob
			param := "$3"
			if !path.bytes {
				if _, err := c.Exec(ctx, `INSERT INTO `+tbl+` (blob) VALUES ($1)`, blob); err == nil || !strings.Contains(err.Error(), "[]byte") {
					t.Fatalf("Exec with a []byte argument through JSON params: %v, want it refused", err)
				}
				// bytea's text form, which the server converts.
				arg, param = `\x0001ff`, "$3::text::bytea"
			}
			n, err := c.Exec(ctx, `INSERT INTO `+tbl+` VALUES ($1, $2, `+param+`, $4), (2, 'b', NULL, NULL)`, 1, "a", arg, at)
			if err != nil || n != 2 {
				t.Fatalf("Exec insert = %d, %v", n, err)
			}
			items, err := postgres.QueryInto[item](ctx, c, `SELECT id, name, blob, at FROM `+tbl+` WHERE id = $1`, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != 1 || items[0].ID != 1 || items[0].Name != "a" || !bytes.Equal(items[0].Blob, blob) || !items[0].At.Equal(at) {
				t.Fatalf("QueryInto = %+v", items)
			}
			rows, err := c.Query(ctx, `SELECT id, name FROM `+tbl+` ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 || rows[1]["id"] != json.Number("2") || rows[1]["name"] != "b" {
				t.Fatalf("Query = %v", rows)
			}
			none, err := postgres.QueryInto[item](ctx, c, `SELECT id, name FROM `+tbl+` WHERE false`)
			if err != nil || none == nil || len(none) != 0 {
				t.Fatalf("QueryInto without rows = %#v, %v; want an empty slice", none, err)
			}
			_, err = c.Exec(ctx, `INSERT INTO no_such_table VALUES (1)`)
			var be *bindings.Error
			var pe *pgconn.PgError
			if !errors.As(err, &be) || be.Binding != "db" || !errors.As(err, &pe) {
				t.Errorf("server error %v: want a *bindings.Error naming the binding, wrapping *pgconn.PgError", err)
			}
		})
	}
}

func TestClientRefusesAnotherBindingType(t *testing.T) {
	err := new(postgres.Client).BindOutput(bindings.OutputBinding{Name: "events", Type: &bindings.Type{Name: "bindings.kafka"}, Output: openOutput(t, nil)})
	if err == nil {
		t.Fatal("a *postgres.Client bound to a bindings.kafka component")
	}
	for _, want := range []string{`"events"`, "bindings.kafka", "bindings.postgresql"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	var unbound postgres.Client
	if _, err := unbound.Exec(testContext(t), "SELECT 1"); err == nil {
		t.Error("an unbound client ran Exec")
	}
}
